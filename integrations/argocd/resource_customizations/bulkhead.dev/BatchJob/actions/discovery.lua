-- Run now, for any BatchJob; suspend and resume, for a scheduled one (spec.suspend only acts
-- with a schedule). Run now is disabled while an earlier request is not yet handled, i.e.
-- while the bulkhead.dev/run-now annotation differs from status.runNow.
local actions = {}
local requested = nil
if obj.metadata.annotations ~= nil then
  requested = obj.metadata.annotations["bulkhead.dev/run-now"]
end
local handled = nil
if obj.status ~= nil then
  handled = obj.status.runNow
end
actions["run-now"] = {
  ["displayName"] = "Run now",
  ["iconClass"] = "fa fa-fw fa-play-circle",
  ["disabled"] = requested ~= nil and requested ~= handled,
}
if obj.spec.schedule ~= nil then
  local suspended = obj.spec.suspend == true
  actions["suspend"] = {["iconClass"] = "fa fa-fw fa-pause", ["disabled"] = suspended}
  actions["resume"] = {["iconClass"] = "fa fa-fw fa-play", ["disabled"] = not suspended}
end
return actions
