-- Argo CD resource actions for reflexdb.cloud/ReflexDatabase: which ones to offer, and which are
-- disabled now. The operator computes status.allowedActions (SPEC §2) from phase, spec and
-- observed state; an action it does not allow (or that has no entry yet) is shown disabled.
-- Install: argocd-cm key resource.customizations.actions.reflexdb.cloud_ReflexDatabase.
local actions = {}

local function allowed(name)
  if obj.status == nil or obj.status.allowedActions == nil then
    return false
  end
  local entry = obj.status.allowedActions[name]
  return entry ~= nil and entry.allowed == true
end

actions["pause"] = {["iconClass"] = "fa fa-fw fa-pause-circle", ["disabled"] = not allowed("pause")}
actions["resume"] = {["iconClass"] = "fa fa-fw fa-play-circle", ["disabled"] = not allowed("resume")}
actions["rebuild"] = {["iconClass"] = "fa fa-fw fa-hammer", ["disabled"] = not allowed("rebuild")}
actions["reload"] = {["iconClass"] = "fa fa-fw fa-sync", ["disabled"] = not allowed("reload")}
return actions
