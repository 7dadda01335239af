-- Runs one Argo CD health script the way Argo CD does, on Debian's Lua 5.1:
--   lua5.1 health-runner.lua SCRIPT < OBJECT
-- OBJECT is a Lua chunk that sets `obj` (health.ts writes it from JSON: Lua 5.1 has no JSON
-- library). Prints "<status>\t<message>"; exits 2 when the script does not compile, 3 when
-- it raises an error, 4 when it does not return a table.
--
-- The script cannot simply be concatenated with a print: Argo CD takes the value of its final
-- `return hs`, and Lua allows no statement after a return. It runs in an environment holding
-- only what Argo CD opens for custom scripts (util/lua/lua.go: base, table and a safe os, no
-- string or math library), so a script that calls string.format passes here only if it would
-- pass in Argo CD.
local path = arg[1]
if path == nil then
  io.stderr:write("usage: lua5.1 health-runner.lua SCRIPT < OBJECT\n")
  os.exit(2)
end
local file = assert(io.open(path, "r"))
local source = file:read("*a")
file:close()

local input = {}
local objChunk = assert(loadstring(io.read("*a"), "=object"))
setfenv(objChunk, input)
objChunk()

local script, compileError = loadstring(source, "@" .. path)
if script == nil then
  io.stderr:write(compileError .. "\n")
  os.exit(2)
end

local env = {
  obj = input.obj,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  print = print, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  setmetatable = setmetatable, getmetatable = getmetatable, tonumber = tonumber,
  tostring = tostring, type = type, unpack = unpack, xpcall = xpcall, _VERSION = _VERSION,
  table = table,
  os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
}
env._G = env
setfenv(script, env)

-- Without Argo CD's string library, strings have no methods either ("x"):upper() fails there.
local stringMeta = getmetatable("")
local write, stderr, exit = io.write, io.stderr, os.exit
stringMeta.__index = nil
local ok, hs = pcall(script)
stringMeta.__index = string

if not ok then
  stderr:write(tostring(hs) .. "\n")
  exit(3)
end
if type(hs) ~= "table" then
  stderr:write("expected table output from Lua script, not " .. type(hs) .. "\n")
  exit(4)
end
write(tostring(hs.status), "\t", tostring(hs.message or ""), "\n")
