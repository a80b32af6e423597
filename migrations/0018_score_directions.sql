-- 0018: each score row carries its direction scores as the scores page shows
-- them (every direction code, its score at 2 decimals, null where no
-- indicator of the direction applies). em_rescore writes them with the row
-- (sql/10_scoring.sql); a page read them from direction_scores, ten rows per
-- item, scattered over the table, which cost half of the page.
ALTER TABLE submission_scores ADD COLUMN directions jsonb NOT NULL DEFAULT '{}';

UPDATE submission_scores sc SET directions = x.directions
FROM (SELECT s.submission_id, jsonb_object_agg(d.code, round(ds.score, 2)) AS directions
      FROM submission_scores s CROSS JOIN directions d
      LEFT JOIN direction_scores ds ON ds.submission_id = s.submission_id
                                   AND ds.direction_id = d.id
      GROUP BY s.submission_id) x
WHERE x.submission_id = sc.submission_id;
