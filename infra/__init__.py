"""Infrastructure: the Pulumi component (`infra.component`, which lists its parts, one module
each), what the parts share (`infra.common`, `infra.bundle`), and the pieces the local stack reuses
(`infra.wiring` and the user pool's settings `infra.pool`, which import nothing from Pulumi)."""
