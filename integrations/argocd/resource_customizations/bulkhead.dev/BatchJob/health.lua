-- Argo CD health of a bulkhead.dev BatchJob, read from the conditions the operator writes.
-- Runs in argocd-cm's sandbox: no string library, so only plain comparisons and "..".
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the bulkhead operator to observe the BatchJob"
  return hs
end
if obj.metadata.generation ~= nil and status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the bulkhead operator to observe generation " .. obj.metadata.generation
  return hs
end

local conditions = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    conditions[condition.type] = condition
  end
end
local function isTrue(type)
  return conditions[type] ~= nil and conditions[type].status == "True"
end
hs.message = status.message or ""
if status.reason ~= nil and status.reason ~= "" then
  hs.message = status.reason .. ": " .. hs.message
end

-- Stalled is True when only a person can help: a failed run, an invalid spec, a run that
-- cannot start, or, with a schedule, while the newest finished run failed (LastRunFailed).
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = conditions["Stalled"].reason .. ": " .. (conditions["Stalled"].message or "")
  return hs
end
if obj.spec.schedule ~= nil then
  -- A schedule is healthy while it works, a run active or not: its runs come and go every
  -- night and must not flip the application's health.
  if obj.spec.suspend == true then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  return hs
end
if isTrue("Succeeded") then
  hs.status = "Healthy"
  return hs
end
-- Queued, waiting for a Dependency (the message names it and the place in its queue) or its
-- window, or running.
hs.status = "Progressing"
return hs
