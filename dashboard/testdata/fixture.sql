-- Rows for the dashboard tests: two series, one of them with a name built
-- to break out of HTML, attributes and URLs if anything were not escaped.
INSERT INTO series (key, name, model_group, last_seen, last_ts, last_score, last_p_value)
VALUES ('cpu{host="a"}', 'cpu', 'hosts', '2024-01-02T00:00:00Z', '2024-01-01T05:00:00Z',
        3.25, 0.2),
       ('<script>alert(1)</script>"onmouseover="x&y', 'evil', 'hosts',
        '2024-01-01T00:00:00Z', NULL, NULL, NULL);
INSERT INTO models (model_group, version, state, spec, artifact, metrics, note)
VALUES ('hosts', 1, 'retired', '{}', '\x00', '{"valid_nll": 1.5}', 'first'),
       ('hosts', 2, 'champion', '{}', '\x00', '{"valid_nll": 1.25, "crps": 0.0625}', '');
INSERT INTO anomalies (series_key, model_group, ts, value, score, p_value, model_version)
VALUES ('cpu{host="a"}', 'hosts', '2024-01-01T01:00:00Z', '{10}', 9, 0.001, 2),
       ('cpu{host="a"}', 'hosts', '2024-01-01T03:00:00Z', '{-4}', 8, 0.002, 2),
       ('cpu{host="a"}', 'hosts', '2024-01-01T04:00:00Z', '{7}', 7.5, 0.003, 2);
INSERT INTO incidents (series_key, model_group, state, first_ts, last_ts, points,
                       min_p_value, max_score, resolved_at)
VALUES ('cpu{host="a"}', 'hosts', 'resolved', '2024-01-01T01:00:00Z',
        '2024-01-01T01:00:00Z', 1, 0.001, 9, '2024-01-01T02:00:00Z'),
       ('cpu{host="a"}', 'hosts', 'open', '2024-01-01T03:00:00Z', '2024-01-01T04:00:00Z',
        2, 0.002, 8, NULL);
INSERT INTO drift_events (model_group, model_version, detected_at, statistic, threshold,
                          window_size, out_of_range_share, reason)
VALUES ('hosts', 1, '2024-01-01T12:00:00Z', 0.375, 0.125, 500, 0.03125, 'ks');
