-- resume: run the paused instance again (spec.paused = false).
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.paused = false
return obj
