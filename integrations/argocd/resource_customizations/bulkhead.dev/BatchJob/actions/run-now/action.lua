-- Asks the operator for one run now: a new value of the bulkhead.dev/run-now annotation (an
-- opaque token, as Flux's reconcile.fluxcd.io/requestedAt); status.runNow echoes it once the
-- run is started. os is available only through require in Argo CD's sandbox.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["bulkhead.dev/run-now"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
