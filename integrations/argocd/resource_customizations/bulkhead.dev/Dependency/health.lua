-- Argo CD health of a bulkhead.dev Dependency, read from the conditions the operator writes.
-- Runs in argocd-cm's sandbox: no string library, so only plain comparisons and "..".
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the bulkhead operator to observe the Dependency"
  return hs
end
if obj.metadata.generation ~= nil and status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the bulkhead operator to observe generation " .. obj.metadata.generation
  return hs
end

local ready = nil
local window = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "WindowClosed" then
      window = condition
    end
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the bulkhead operator to report the Dependency"
  return hs
end
hs.message = ready.reason .. ": " .. (ready.message or "")
if ready.status ~= "True" then
  -- InvalidSpec: it takes no part in admission and every BatchJob that uses it waits.
  hs.status = "Degraded"
  return hs
end
-- Full, or a closed window, is the budget working as meant: healthy, and said in the message.
hs.status = "Healthy"
if window ~= nil and window.status == "True" then
  hs.message = hs.message .. "; " .. window.reason .. ": " .. (window.message or "")
end
return hs
