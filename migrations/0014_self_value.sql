-- 0014: what the head first self-assessed. submitted_value is overwritten at
-- every submission, so after a return for correction it holds the corrected
-- figure, the same the municipality then verifies; self_value keeps the value
-- as the head entered it when it first submitted it (a value first entered at
-- a later submission is kept from that one). The objectivity calibration
-- (GET /campaigns/{id}/calibration) holds self_value against verified_value.
-- Rows submitted before this migration start from their last submitted value.
ALTER TABLE submission_values ADD COLUMN self_value numeric;
UPDATE submission_values SET self_value = submitted_value WHERE submitted_value IS NOT NULL;
