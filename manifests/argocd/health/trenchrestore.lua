-- Argo CD health of a TrenchRestore (playtrenches.xyz/v1alpha1): one backup loaded in place
-- into one Trench. A failed restore leaves the database as it was, but the Trench did not get
-- the data asked for: Degraded.
-- Source of the resource.customizations.health.playtrenches.xyz_TrenchRestore key of
-- manifests/argocd/argocd-cm-health.yaml, after lib.lua and run.lua (make synth writes it;
-- edit these files, not that one).

-- The steps of an in-place restore (RESTORE_PHASES in charts/api/backup.ts).
local steps = { Verifying = true, Quiescing = true, Restoring = true, Resuming = true }

local backup = nonEmpty(get(obj.spec, "backup"))
local from = ""
if backup ~= nil then
  from = " from " .. backup
end

local function completed(_, message)
  if message ~= nil then
    return ": " .. message
  end
  return ""
end

return runHealth("restore", "Restore" .. from, from, steps, completed)
