"""The only package that talks to the Kubernetes API.

Requests and watches go through one aiohttp session on the event loop, configured by a
`Connection` (server, certificates and token, a token file read again as it rotates): no
thread pool, no model classes, and no import of the official client (10 MiB of RSS; the
operator builds its Connection in-cluster or with kopf's kubeconfig reader, the kubectl plugin
from the official client's loaders). Bodies go out as plain dicts and come
back as parsed JSON (orjson: a Job's watch event decodes in a third of the json module's
time); watches stream one line per event. (The synchronous client in a thread
pool, measured before at N=1,000: 10.9 ms of operator CPU per BatchJob.)

connection.py says where the API server is and who we are to it; rest.py sends requests, pages
through lists and streams watches for any path; client.py names the objects bulkhead touches
(Jobs, NetworkPolicies, Leases, statuses, Events); errors.py holds what a refusal raises.
"""
