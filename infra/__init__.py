"""Infrastructure: the Pulumi component (`infra.component`, which lists its parts, one module
each), what the parts share (`infra.common`, `infra.bundle`), and the pieces the local stack reuses
(`infra.wiring`, which imports nothing from Pulumi)."""
