"""Infrastructure: the Pulumi component (`infra.component`) and the pieces of it that the
local stack reuses (`infra.wiring`, which imports nothing from Pulumi)."""
