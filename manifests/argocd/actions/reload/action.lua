-- reload: any new spec.reloadToken makes the running server reload its snapshot now. The token is
-- the time in seconds ("argocd-<unix time>"), with a suffix if it would not change.
local os = require("os")
if obj.spec == nil then
  obj.spec = {}
end
local base = "argocd-" .. tostring(os.time())
local token = base
local n = 1
while obj.spec.reloadToken == token do
  token = base .. "-" .. tostring(n)
  n = n + 1
end
obj.spec.reloadToken = token
return obj
