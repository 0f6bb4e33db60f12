-- pause: ECS desired count 0, record and builds kept (spec.paused = true).
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.paused = true
return obj
