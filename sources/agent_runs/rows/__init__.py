"""Mapping to rows: the unified tables' contract (schema), where pages become `runs` rows
(from_pages, with the field maps applied by mapping), where steps become `run_steps` rows
(from_steps), and rows compared column by column (compare)."""
