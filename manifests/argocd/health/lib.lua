-- Shared by the Argo CD health scripts of the Trench kinds. Argo CD runs each script alone,
-- with no require, so make synth puts this file (and run.lua for the run kinds) in front of
-- each script in argocd-cm-health.yaml. gopher-lua (Lua 5.1) with only the base, table and
-- os libraries: no string library (messages are built with `..` and tostring), and any field
-- may be missing, so every read is guarded.

local function get(t, key)
  if type(t) ~= "table" then
    return nil
  end
  return t[key]
end

local function nonEmpty(v)
  if v == nil or v == "" then
    return nil
  end
  return tostring(v)
end

-- Argo CD hands int64 fields over as numbers, but its decoder turns a json.Number into a
-- string: accept both, so a generation never reads as missing.
local function number(v)
  if type(v) == "string" then
    return tonumber(v)
  end
  if type(v) == "number" then
    return v
  end
  return nil
end

-- `text: message`, or `text` alone when there is no message.
local function withMessage(text, message)
  if message ~= nil then
    return text .. ": " .. message
  end
  return text
end
