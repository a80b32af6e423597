-- 0011: a placeholder on this branch only, so that 0012 follows without a gap
-- (tools/embed.py). 0011 belongs to another branch (indicators.data_kind);
-- drop this file when that one is merged.
SELECT 1;
