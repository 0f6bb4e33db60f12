-- rebuild: any new spec.rebuildToken forces a fresh build with the same inputs. Argo CD's Lua has
-- no random numbers, so the token is the time in seconds ("argocd-<unix time>"); a second click
-- within the same second gets a suffix so that the value still changes.
local os = require("os")
if obj.spec == nil then
  obj.spec = {}
end
local base = "argocd-" .. tostring(os.time())
local token = base
local n = 1
while obj.spec.rebuildToken == token do
  token = base .. "-" .. tostring(n)
  n = n + 1
end
obj.spec.rebuildToken = token
return obj
