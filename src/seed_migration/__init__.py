"""The seed system's configs -> ours: the one-off migration and its parity checks.

Depends on `src.config` (never the reverse). Modules: `seed_table` (one rule per seed key),
`migrate` (translate a mapping, migrate a file or a whole tree, with its report), `seed_paths`
(paths the seed wrote relative to its repository -> the migrated files), `yaml_emit` (YAML with the
comments kept), `parity` (the seed 001 allowlist: `diff --profile parity`), `migration_parity` (seed 001
parity across the migration, `parity-report`),
`commands` (rendering and exit codes), `cli` (the config tools' command line plus these commands).
"""
