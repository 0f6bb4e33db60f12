-- Argo CD health check for reflexdb.cloud/ReflexDatabase.
-- Install: argocd-cm key resource.customizations.health.reflexdb.cloud_ReflexDatabase
-- (see argocd-cm-patch.yaml). Argo CD passes the live object as the global `obj`; its Lua sandbox
-- has only the base, table and (a safe) os library: no string or math functions here.
--
-- Decision order (first match wins):
--   1. no status yet, or status.observedGeneration < metadata.generation  -> Progressing
--      (the operator has not looked at the latest spec: nothing below is about it yet)
--   2. condition Stalled=True (BuildFailed, DeploymentFailed, SecretNotFound, BuildNotDeployable,
--      AWSError: cannot progress without the user)                       -> Degraded, its message
--   3. phase Failed                                                       -> Degraded
--   4. phase Paused or Terminated (asked for in spec.paused / spec.terminated) -> Suspended
--   5. condition Reconciling=True (build, deployment, pause, termination, deletion in progress)
--                                                                         -> Progressing
--      A Degraded condition during a rollout does not make it Degraded: the operator is acting
--      on it (a deployment that fails turns into Stalled, rule 2); the message says so.
--   6. condition Degraded=True (instance health degraded, unreachable or over its cap) -> Degraded.
--      Ready stays True while a degraded server still serves; Argo CD still shows Degraded, so an
--      outage or a half-working instance is never reported Healthy.
--   7. condition Ready=True                                               -> Healthy
--   8. anything else (Pending, Terminating, Deleting, no conditions yet)  -> Progressing
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.message
  if text == nil or text == "" then
    text = fallback
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. text
  end
  return text
end

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
if status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (observed " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local phase = status.phase
local stalled = condition("Stalled")
local reconciling = condition("Reconciling")
local degraded = condition("Degraded")
local ready = condition("Ready")

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "the operator cannot make progress")
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(ready, "the database is in phase Failed")
  return hs
end

if phase == "Paused" or phase == "Terminated" then
  hs.status = "Suspended"
  hs.message = describe(ready, "the instance is " .. phase)
  return hs
end

if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "the operator is working on it")
  if isTrue(degraded) then
    hs.message = hs.message .. " (instance health: " .. describe(degraded, "degraded") .. ")"
  end
  return hs
end

if isTrue(degraded) then
  hs.status = "Degraded"
  hs.message = describe(degraded, "the instance is not healthy")
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready, "the instance is serving")
  return hs
end

hs.status = "Progressing"
if phase ~= nil then
  hs.message = describe(ready, "phase " .. phase)
else
  hs.message = describe(ready, "waiting for the operator")
end
return hs
