"""The benchmark's phases, one a module, each a `run` that returns its figures (keys of the
results table): raw (plain Jobs, the limit), batchjobs (a burst of BatchJobs), open_loop
(a steady stream at several rates), dependency (through a small budget), admission (a
large queue, beside Kueue's baseline), schedule (many runs due at one instant), events
(CloudEvents through a trigger), peer (bulkhead beside Kueue as a process, the same
workloads), rest (memory at rest and a restart). bench/run.py runs them in that order."""
