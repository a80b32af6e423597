#!/usr/bin/python3
"""
test_imports.py - bulk import of regional_import values (POST/GET /campaigns/{id}/imports):
good CSV and JSON files (values, history, audit, scores), the semicolon + BOM + CRLF +
decimal comma variant, 10 000 rows with one bad row (422 naming it, nothing written),
every kind of row error, dry runs, Idempotency-Key replay, the 64 MiB cap (413 at cap + 1,
by Content-Length and chunked), the 1 MiB cap of other routes, 415, 404 outside the
region, 403 for the roles that may not import, 409 for a campaign not open, and the list.

The world (regions, organizations, a campaign with its catalog and submissions) is made
by SQL as the superuser, so these tests do not depend on the campaign and submission
routes. Row numbers of CSV errors are physical lines (the header is line 1); of JSON
errors, 1-based positions in the array.
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status, inn10  # noqa: E402

API = '/api/v1'
PASSWORD = 'imports-secret-1'
MIB = 1024 * 1024

# The 10-digit INN with a valid check digit, as SQL: p is a 9-digit prefix.
SQL_INN = ("p || ((2 * substr(p, 1, 1)::int + 4 * substr(p, 2, 1)::int + "
           "10 * substr(p, 3, 1)::int + 3 * substr(p, 4, 1)::int + 5 * substr(p, 5, 1)::int + "
           "9 * substr(p, 6, 1)::int + 4 * substr(p, 7, 1)::int + 6 * substr(p, 8, 1)::int + "
           "8 * substr(p, 9, 1)::int) % 11 % 10)::text")

BULK_ORGS = 2500  # x 4 importable school indicators = 10 000 rows


class ImportsTest(harness.DaemonTestCase):
    threads = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sql = cls.cluster.psql
        cls.build_world()

    # --- the world

    @classmethod
    def one(cls, q):
        return cls.sql(q).split('\n')[0]

    @classmethod
    def build_world(cls):
        sql = cls.sql
        cls.region_a = int(cls.one("INSERT INTO regions (code, name) VALUES ('52', 'Region A') "
                                   "RETURNING id"))
        cls.region_b = int(cls.one("INSERT INTO regions (code, name) VALUES ('66', 'Region B') "
                                   "RETURNING id"))
        cls.muni_a = int(cls.one("INSERT INTO municipalities (region_id, name, oktmo) VALUES "
                                 "(%d, 'Sarov', '22704000') RETURNING id" % cls.region_a))
        cls.muni_b = int(cls.one("INSERT INTO municipalities (region_id, name, oktmo) VALUES "
                                 "(%d, 'Ekb', '65701000') RETURNING id" % cls.region_b))
        cls.inn = {}
        cls.org = {}
        for name, muni, region, kind, prefix in (
                ('school1', cls.muni_a, cls.region_a, 'school', '520000001'),
                ('school2', cls.muni_a, cls.region_a, 'school', '520000002'),
                ('kinder', cls.muni_a, cls.region_a, 'preschool', '520000003'),
                ('approved', cls.muni_a, cls.region_a, 'school', '520000004'),
                ('outsider', cls.muni_a, cls.region_a, 'school', '520000005'),
                ('school_b', cls.muni_b, cls.region_b, 'school', '660000001')):
            inn = inn10(prefix)
            cls.inn[name] = inn
            cls.org[name] = int(cls.one(
                "INSERT INTO organizations (municipality_id, region_id, full_name, short_name, "
                "inn, kind, settlement) VALUES (%d, %d, 'Org %s', '%s', '%s', '%s', 'urban') "
                "RETURNING id" % (muni, region, name, name, inn, kind)))
        # Bulk schools for the 10 000-row file.
        sql("INSERT INTO organizations (municipality_id, region_id, full_name, short_name, inn, "
            "kind, settlement) SELECT %d, %d, 'Bulk ' || g, 'Bulk ' || g, %s, 'school', 'rural' "
            "FROM (SELECT g, '53' || lpad(g::text, 7, '0') AS p FROM generate_series(1, %d) g) x"
            % (cls.muni_a, cls.region_a, SQL_INN, BULK_ORGS))
        cls.bulk_inns = sql("SELECT inn FROM organizations WHERE full_name LIKE 'Bulk %' "
                            "ORDER BY id").split('\n')
        assert len(cls.bulk_inns) == BULK_ORGS

        def campaign(region, year, status):
            return int(cls.one(
                "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status) "
                "VALUES (%d, %d, 'Monitoring %d', '2024-01-01', '2030-01-01', '%s') RETURNING id"
                % (region, year, year, status)))
        cls.camp = campaign(cls.region_a, 2024, 'open')
        cls.camp_draft = campaign(cls.region_a, 2025, 'draft')
        cls.camp_b = campaign(cls.region_b, 2024, 'open')
        direction = int(cls.one("SELECT id FROM directions WHERE code = 'student_results'"))
        for code, vtype, lo, hi, source, weights in (
                ('R1', 'number', 0, 100, 'regional_import', '{"school": 1, "preschool": 1}'),
                ('R2', 'integer', 0, 10, 'regional_import', '{"school": 2}'),
                ('R3', 'boolean', None, None, 'regional_import', '{"school": 1, "preschool": 1}'),
                ('P1', 'percent', 0, 100, 'regional_import', '{"school": 1, "preschool": 0}'),
                ('S1', 'number', 0, 100, 'self', '{"school": 1, "preschool": 1}'),
                ('M1', 'percent', 0, 100, 'municipal', '{"school": 1}')):
            sql("INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
                "min_value, max_value, source, weights) VALUES (%d, '%s', 'Indicator %s', %d, "
                "'%s', %s, %s, '%s', '%s')"
                % (cls.camp, code, code, direction, vtype, 'NULL' if lo is None else lo,
                   'NULL' if hi is None else hi, source, weights))
        sql("INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
            "min_value, max_value, source, weights) VALUES (%d, 'R1', 'B R1', %d, 'number', 0, "
            "100, 'regional_import', '{\"school\": 1}')" % (cls.camp_b, direction))
        # Every organization of region A but 'outsider' takes part; 'approved' is approved.
        sql("INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, "
            "kind, status) SELECT %d, o.id, o.region_id, o.municipality_id, o.kind, "
            "CASE WHEN o.id = %d THEN 'approved' ELSE 'draft' END FROM organizations o "
            "WHERE o.region_id = %d AND o.id <> %d"
            % (cls.camp, cls.org['approved'], cls.region_a, cls.org['outsider']))
        sql("INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, "
            "kind) SELECT %d, o.id, o.region_id, o.municipality_id, o.kind FROM organizations o "
            "WHERE o.region_id = %d" % (cls.camp_b, cls.region_b))
        cls.sub = {name: int(cls.one("SELECT id FROM submissions WHERE campaign_id = %d AND "
                                     "organization_id = %d" % (cls.camp, cls.org[name])))
                   for name in ('school1', 'school2', 'kinder', 'approved')}

        d = cls.daemon
        cls.users = {}
        for login, role, scope in (
                ('root', 'admin', {}),
                ('reg-a', 'regional_operator', {'region': cls.region_a}),
                ('reg-b', 'regional_operator', {'region': cls.region_b}),
                ('muni-a', 'municipal_operator', {'municipality': cls.muni_a}),
                ('head-a', 'head', {'organization': cls.org['school1']}),
                ('expert-a', 'expert', {'region': cls.region_a}),
                ('portal-a', 'portal', {'region': cls.region_a})):
            uid = d.create_user(login, role, PASSWORD, **scope)
            cls.users[login] = (uid, d.login(login, PASSWORD))

    # --- helpers

    def tok(self, login='reg-a'):
        return self.users[login][1]

    def post(self, body, campaign=None, ctype='text/csv', token=None, query='', headers=None,
             timeout=60):
        h = {'Content-Type': ctype} if ctype else {}
        h.update(headers or {})
        if isinstance(body, (list, dict)):
            body = json.dumps(body, ensure_ascii=False).encode('utf-8')
        path = '%s/campaigns/%d/imports%s' % (API, campaign or self.camp, query)
        return self.daemon.request('POST', path, body=body, headers=h,
                                   token=self.tok() if token is None else token,
                                   timeout=timeout)

    def count(self, q):
        return int(self.one(q))

    def value(self, sub, code):
        out = self.one("SELECT v.value::text || '|' || coalesce(v.comment, '') FROM "
                       "submission_values v JOIN indicators i ON i.id = v.indicator_id WHERE "
                       "v.submission_id = %d AND i.code = '%s' AND i.campaign_id = %d"
                       % (sub, code, self.camp))
        return tuple(out.split('|', 1)) if out else None

    def state(self):
        """What an import writes, counted: values, history, imports, audit, versions."""
        return self.sql("SELECT (SELECT count(*) FROM submission_values) || ',' || "
                        "(SELECT coalesce(sum(hashtext(value::text || coalesce(comment, ''))), "
                        "0) FROM submission_values) || ',' || "
                        "(SELECT count(*) FROM submission_history) || ',' || "
                        "(SELECT count(*) FROM imports) || ',' || "
                        "(SELECT count(*) FROM audit_events) || ',' || "
                        "(SELECT sum(version) FROM submissions)")

    def analyze_count(self, table):
        """Manual ANALYZEs of table so far (autovacuum's are autoanalyze_count)."""
        return self.count("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = '%s'"
                          % table)

    def errors_of(self, r):
        doc = assert_problem(r, 422, 'import with bad rows')
        self.assertIsInstance(doc.get('errors'), list, doc)
        for e in doc['errors']:
            self.assertEqual(set(e), {'row', 'column', 'field', 'message'}, e)
            self.assertTrue(e['message'])
        return doc

    def find(self, errors, row, column=None, fragment=''):
        hits = [e for e in errors if e['row'] == row and e['column'] == column
                and fragment in e['message']]
        self.assertTrue(hits, 'no error row %s column %s ~ %r in %s'
                        % (row, column, fragment, json.dumps(errors, ensure_ascii=False)))
        return hits[0]

    # ================================================================ good files

    def test_good_csv(self):
        before_hist = self.count("SELECT count(*) FROM submission_history WHERE submission_id "
                                 "IN (%d, %d)" % (self.sub['school1'], self.sub['kinder']))
        body = ('organization_inn,indicator_code,value,comment\n'
                '%s,R1,42.5,from the exam centre\n'
                '%s,R2,7,\n'
                '%s,R3,да,"quoted, with ""quotes"""\n'
                '%s,R1,10,\n' % (self.inn['school1'], self.inn['school1'], self.inn['school1'],
                                 self.inn['kinder']))
        r = self.post(body)
        assert_status(r, 201, 'good CSV')
        doc = r.json
        self.assertEqual(doc['campaign_id'], self.camp)
        self.assertEqual(doc['format'], 'csv')
        self.assertEqual(doc['rows'], 4)
        self.assertEqual(doc['values_written'] + doc['values_unchanged'], 4)
        self.assertGreaterEqual(doc['submissions_affected'], 1)
        for k in ('id', 'created_at'):
            self.assertIn(k, doc)
        self.assertEqual(r.headers.get('location'), '%s/campaigns/%d/imports' % (API, self.camp))
        self.assertEqual(self.value(self.sub['school1'], 'R1'), ('42.5', 'from the exam centre'))
        self.assertEqual(self.value(self.sub['school1'], 'R2')[0], '7')
        self.assertEqual(self.value(self.sub['school1'], 'R3'), ('1', 'quoted, with "quotes"'))
        self.assertEqual(self.value(self.sub['kinder'], 'R1')[0], '10')
        # One history row per affected submission, naming the import and every change.
        hist = self.sql("SELECT submission_id || '|' || action || '|' || import_id || '|' || "
                        "jsonb_array_length(changes) || '|' || actor_role FROM submission_history "
                        "WHERE import_id = %d ORDER BY submission_id" % doc['id']).split('\n')
        self.assertEqual(len(hist), doc['submissions_affected'], hist)
        self.assertEqual(self.count("SELECT count(*) FROM submission_history WHERE submission_id "
                                    "IN (%d, %d)" % (self.sub['school1'], self.sub['kinder'])),
                         before_hist + 2)
        changes = json.loads(self.one("SELECT changes FROM submission_history WHERE import_id = "
                                      "%d AND submission_id = %d" % (doc['id'],
                                                                     self.sub['school1'])))
        by_code = {c['code']: c for c in changes}
        self.assertEqual(by_code['R3']['new']['value'], True)
        self.assertEqual(by_code['R1']['new']['value'], 42.5)
        self.assertIsNone(by_code['R1']['old'])
        # Audited once, in the same transaction.
        self.assertEqual(self.count("SELECT count(*) FROM audit_events WHERE entity = 'import' "
                                    "AND entity_id = %d" % doc['id']), 1)
        # Scores follow the values: R1 42.5 (w1), R2 7/10 (w2), R3 true (w1), P1 missing (w1)
        # out of the school's weights 1+2+1+1+1(S1)+1(M1) = 7.
        total = float(self.one("SELECT total FROM submission_scores WHERE submission_id = %d"
                               % self.sub['school1']))
        expect = 100 * (0.425 + 2 * 0.7 + 1) / 7
        self.assertAlmostEqual(total, expect, places=6)
        # The same file again writes nothing new.
        r2 = self.post(body)
        assert_status(r2, 201, 'same CSV again')
        self.assertEqual(r2.json['values_written'], 0)
        self.assertEqual(r2.json['values_unchanged'], 4)
        self.assertEqual(r2.json['submissions_affected'], 0)
        self.assertEqual(self.count("SELECT count(*) FROM submission_history WHERE import_id = "
                                    "%d" % r2.json['id']), 0)

    def test_good_json(self):
        rows = [
            {'organization_inn': self.inn['school2'], 'indicator_code': 'R1', 'value': 12.25,
             'comment': None},
            {'organization_inn': self.inn['school2'], 'indicator_code': 'R2', 'value': 3},
            {'organization_inn': self.inn['school2'], 'indicator_code': 'R3', 'value': False,
             'comment': 'нет нарушений'},
            {'organization_inn': self.inn['school2'], 'indicator_code': 'P1', 'value': '7,5'},
        ]
        r = self.post(rows, ctype='application/json; charset=utf-8')
        assert_status(r, 201, 'good JSON')
        self.assertEqual(r.json['format'], 'json')
        self.assertEqual(r.json['rows'], 4)
        self.assertEqual(r.json['values_written'], 4)
        self.assertEqual(r.json['submissions_affected'], 1)
        self.assertEqual(self.value(self.sub['school2'], 'R1')[0], '12.25')
        self.assertEqual(self.value(self.sub['school2'], 'R2')[0], '3')
        self.assertEqual(self.value(self.sub['school2'], 'R3'), ('0', 'нет нарушений'))
        self.assertEqual(self.value(self.sub['school2'], 'P1')[0], '7.5')
        self.assertEqual(self.count("SELECT count(*) FROM submission_scores WHERE "
                                    "submission_id = %d AND filled = 4" % self.sub['school2']), 1)

    def test_semicolon_bom_crlf_decimal_comma(self):
        body = ('\ufeff Organization_INN ; INDICATOR_CODE ;Value\r\n'
                '%s;R1;"33,75"\r\n'
                '%s;P1;66,5\r\n'
                '\r\n' % (self.inn['kinder'], self.inn['school2'])).encode('utf-8')
        r = self.post(body, ctype='text/csv; charset=UTF-8')
        assert_status(r, 201, 'semicolon + BOM + CRLF')
        self.assertEqual(r.json['rows'], 2)
        self.assertEqual(self.value(self.sub['kinder'], 'R1')[0], '33.75')
        self.assertEqual(self.value(self.sub['school2'], 'P1')[0], '66.5')

    # ================================================================ bad files

    def bulk_csv(self, bad_index=None, bad_value='abc'):
        lines = ['organization_inn,indicator_code,value']
        k = 0
        for inn in self.bulk_inns:
            for code, v in (('R1', '55.5'), ('R2', '4'), ('R3', 'true'), ('P1', '80')):
                lines.append('%s,%s,%s' % (inn, code, bad_value if k == bad_index else v))
                k += 1
        return ('\n'.join(lines) + '\n').encode('ascii')

    def test_ten_thousand_rows_one_bad(self):
        body = self.bulk_csv(bad_index=7777)
        self.assertEqual(body.count(b'\n'), 10001)
        before = self.state()
        r = self.post(body)
        doc = self.errors_of(r)
        self.assertEqual(doc['errors_total'], 1, doc)
        self.assertFalse(doc['truncated'])
        self.assertEqual(len(doc['errors']), 1, doc)
        e = doc['errors'][0]
        # Data row 7777 (0-based) is on line 7779: the header is line 1.
        self.assertEqual(e['row'], 7779)
        self.assertEqual(e['column'], 'value')
        self.assertEqual(e['field'], 'rows[7779].value')
        self.assertIn('not a number', e['message'])
        self.assertEqual(self.state(), before, 'a refused import wrote something')
        # Fixed, the same file goes in whole.
        analysed = self.analyze_count('submission_values')
        r = self.post(self.bulk_csv(), timeout=120)
        assert_status(r, 201, '10 000 good rows')
        # The values table grew past twice its size at its last analysis: the rescore
        # took its statistics first (an ANALYZE of its own; autovacuum's are counted apart).
        harness.wait_for(lambda: self.analyze_count('submission_values') > analysed, 20.0, 0.2,
                         'the ANALYZE of submission_values in the statistics')
        self.assertEqual(r.json['rows'], 10000)
        self.assertEqual(r.json['values_written'], 10000)
        self.assertEqual(r.json['submissions_affected'], BULK_ORGS)
        self.assertEqual(self.count("SELECT count(*) FROM submission_history WHERE import_id = %d"
                                    % r.json['id']), BULK_ORGS)
        self.assertEqual(self.count(
            "SELECT count(*) FROM submission_scores s JOIN organizations o ON o.id = "
            "s.organization_id WHERE o.full_name LIKE 'Bulk %%' AND s.campaign_id = %d AND "
            "s.filled = 4" % self.camp), BULK_ORGS)

    def test_every_row_error(self):
        i = self.inn
        unknown = inn10('520099999')
        lines = [
            'organization_inn,indicator_code,value,comment',          # 1
            '%s,R1,1,' % '5200000010',                                # 2 malformed INN
            '%s,R1,1,' % unknown,                                     # 3 unknown INN
            '%s,R1,1,' % i['outsider'],                               # 4 no submission
            '%s,ZZ9,1,' % i['school1'],                               # 5 unknown code
            '%s,S1,1,' % i['school1'],                                # 6 self source
            '%s,M1,1,' % i['school1'],                                # 7 municipal source
            '%s,P1,1,' % i['kinder'],                                 # 8 not applicable
            '%s,R1,12..5,' % i['school1'],                            # 9 bad number
            '%s,R2,2.5,' % i['school1'],                              # 10 not integral
            '%s,R1,100.01,' % i['school1'],                           # 11 out of range
            '%s,R2,-1,' % i['school1'],                               # 12 out of range
            '%s,R3,maybe,' % i['school1'],                            # 13 bad boolean
            '%s,R1,5,' % i['approved'],                               # 14 approved
            '%s,R1,5,' % i['school2'],                                # 15 fine
            '%s,R1,6,' % i['school2'],                                # 16 duplicate of 15
            '%s,R1' % i['school2'],                                   # 17 wrong column count
            '%s,R2,1,%s' % (i['school2'], 'x' * 2001),                # 18 comment too long
            '%s,R2,1,"a"b' % i['school2'],                            # 19 text after quote
        ]
        body = ('\n'.join(lines) + '\n').encode('utf-8')
        body += ('%s,R3,1,bad \xff byte\n' % i['school2']).encode('latin-1')  # 20 UTF-8
        body += ('%s,R3,1,"never closed\n' % i['school2']).encode('ascii')   # 21 quote
        before = self.state()
        r = self.post(body)
        doc = self.errors_of(r)
        errs = doc['errors']
        self.find(errs, 2, 'organization_inn', 'not a valid INN')
        self.find(errs, 3, 'organization_inn', 'takes part')
        self.find(errs, 4, 'organization_inn', 'takes part')
        self.find(errs, 5, 'indicator_code', 'no indicator')
        self.find(errs, 6, 'indicator_code', 'is filled by the organization')
        self.find(errs, 7, 'indicator_code', 'is filled by the municipality')
        self.find(errs, 8, 'indicator_code', 'does not apply')
        self.find(errs, 9, 'value', 'not a number')
        self.find(errs, 10, 'value', 'whole number')
        self.find(errs, 11, 'value', 'from 0 to 100')
        self.find(errs, 12, 'value', 'from 0 to 10')
        self.find(errs, 13, 'value', 'true or false')
        self.find(errs, 14, 'organization_inn', 'approved')
        self.assertFalse([e for e in errs if e['row'] == 15], errs)
        dup = self.find(errs, 16, None, 'row 15')
        self.assertEqual(dup['field'], 'rows[16]')
        self.find(errs, 17, None, 'has 2 fields')
        self.find(errs, 18, 'comment', '2000')
        self.find(errs, 19, None, 'closing quote')
        self.find(errs, 20, 'comment', 'UTF-8')
        self.find(errs, 21, None, 'not closed')
        self.assertEqual(doc['errors_total'], len(errs))
        self.assertEqual(self.state(), before)

    def test_json_row_errors(self):
        rows = [
            {'organization_inn': self.inn['school1'], 'indicator_code': 'R1', 'value': 1},
            'not an object',
            {'organization_inn': 5200000010, 'indicator_code': 'R1', 'value': 1, 'extra': 1},
            {'organization_inn': self.inn['school1'], 'value': [1]},
            {'organization_inn': self.inn['school1'], 'indicator_code': 'R2', 'value': 1,
             'comment': 5},
            {'organization_inn': self.inn['school1'], 'indicator_code': 'R2', 'value': 'x'},
        ]
        before = self.state()
        doc = self.errors_of(self.post(rows, ctype='application/json'))
        errs = doc['errors']
        self.find(errs, 2, None, 'must be an object')
        self.find(errs, 3, 'extra', 'not a column')
        self.find(errs, 3, 'organization_inn', 'must be a string')
        self.find(errs, 4, 'indicator_code', 'required')
        self.find(errs, 4, 'value', 'must be a number')
        self.find(errs, 5, 'comment', 'string or null')
        e = self.find(errs, 6, 'value', 'not a number')
        self.assertEqual(e['field'], 'rows[6].value')
        self.assertFalse([e for e in errs if e['row'] == 1], errs)
        self.assertEqual(self.state(), before)

    def test_bad_header_and_empty(self):
        doc = self.errors_of(self.post(b'inn,code,value\n1,2,3\n'))
        self.find(doc['errors'], 1, None, 'header')
        doc = self.errors_of(self.post(b'organization_inn,indicator_code,value\n'))
        self.assertIn('no data rows', doc['detail'])
        doc = self.errors_of(self.post([], ctype='application/json'))
        self.assertIn('no data rows', doc['detail'])
        assert_problem(self.post(b''), 400, 'empty body')
        assert_problem(self.post(b'{"a": 1}', ctype='application/json'), 400, 'JSON object')
        assert_problem(self.post(b'[1, 2', ctype='application/json'), 400, 'bad JSON')
        assert_problem(self.post(b'x', query='?dry_run=maybe'), 400, 'dry_run=maybe')

    def test_errors_capped(self):
        body = self.bulk_csv(bad_index=None, bad_value='x')
        # Every row bad once (an unknown code: its value is not judged) for 10 000 rows.
        body = body.replace(b',R1,55.5', b',Q1,x').replace(b',R2,4', b',Q2,x')
        body = body.replace(b',R3,true', b',Q3,x').replace(b',P1,80', b',Q4,x')
        doc = self.errors_of(self.post(body))
        self.assertEqual(len(doc['errors']), 10000)
        self.assertEqual(doc['errors_total'], 10000)
        self.assertFalse(doc['truncated'])
        body = body.replace(b'53', b'59')  # and now the INNs are unknown too
        doc = self.errors_of(self.post(body))
        self.assertEqual(len(doc['errors']), 10000)
        self.assertEqual(doc['errors_total'], 20000)
        self.assertTrue(doc['truncated'])
        rows = [e['row'] for e in doc['errors']]
        self.assertEqual(rows, sorted(rows))

    # ================================================================ dry run, replay

    def test_dry_run(self):
        body = 'organization_inn,indicator_code,value\n%s,R1,99\n%s,R2,9\n' % (
            self.inn['school2'], self.inn['school2'])
        before = self.state()
        r = self.post(body, query='?dry_run=true')
        assert_status(r, 200, 'dry run')
        self.assertEqual(r.json, {'dry_run': True, 'rows': 2, 'values_valid': 2, 'errors': []})
        self.assertEqual(self.state(), before)
        r = self.post(body + '%s,R1,abc\n' % self.inn['school2'], query='?dry_run=true')
        doc = self.errors_of(r)
        self.find(doc['errors'], 4, 'value', 'not a number')
        self.assertEqual(self.state(), before)

    def test_idempotency_replay(self):
        body = 'organization_inn,indicator_code,value\n%s,P1,%s\n' % (self.inn['school1'], '61')
        key = {'Idempotency-Key': 'import-replay-1'}
        r1 = self.post(body, headers=key)
        assert_status(r1, 201, 'first')
        imports = self.count("SELECT count(*) FROM imports")
        hist = self.count("SELECT count(*) FROM submission_history")
        r2 = self.post(body, headers=key)
        assert_status(r2, 201, 'replay')
        self.assertEqual(r2.json, r1.json)
        self.assertEqual(r2.headers.get('idempotent-replayed'), 'true')
        self.assertEqual(r2.headers.get('location'), r1.headers.get('location'))
        self.assertEqual(self.count("SELECT count(*) FROM imports"), imports)
        self.assertEqual(self.count("SELECT count(*) FROM submission_history"), hist)
        # The same key with another body, or as a dry run, is refused.
        assert_problem(self.post(body + '%s,P1,62\n' % self.inn['school2'], headers=key), 422,
                       'same key, other body')
        assert_problem(self.post(body, headers=key, query='?dry_run=true'), 422,
                       'same key, dry run')
        # Parallel uploads under one key: one import.
        key2 = {'Idempotency-Key': 'import-replay-2'}
        body2 = 'organization_inn,indicator_code,value\n%s,P1,63\n' % self.inn['school1']
        out = [None, None]

        def go(k):
            out[k] = self.post(body2, headers=key2)
        ts = [threading.Thread(target=go, args=(k,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        statuses = sorted(r.status for r in out)
        self.assertIn(statuses, ([201, 201], [201, 409]), out)
        self.assertEqual(self.count("SELECT count(*) FROM imports WHERE request_id IN (%s)"
                                    % ','.join("'%s'" % r.headers['x-request-id'] for r in out)),
                         1)

    # ================================================================ framing and caps

    def raw_post(self, path, length, body_chunks, ctype='text/csv', chunked=False):
        headers = [('Authorization', 'Bearer ' + self.tok()), ('Content-Type', ctype)]
        headers.append(('Transfer-Encoding', 'chunked') if chunked
                       else ('Content-Length', str(length)))
        head = harness.http_bytes('POST', path, headers, port=self.daemon.port)
        return self.daemon.raw(head, chunks=body_chunks, timeout=60)

    def test_body_caps(self):
        path = '%s/campaigns/%d/imports' % (API, self.camp)
        size = 64 * MIB + 1
        block = b'x' * MIB
        chunks = [block] * 64 + [b'x']
        r = self.raw_post(path, size, chunks)
        self.assertIsNotNone(r, 'no answer to a 64 MiB + 1 upload')
        assert_problem(r, 413, '64 MiB + 1 byte by Content-Length')
        # Chunked: the cap is found while reading.
        def chunk(b):
            return b'%x\r\n' % len(b) + b + b'\r\n'
        r = self.raw_post(path, None, [chunk(block)] * 64 + [chunk(b'x'), b'0\r\n\r\n'],
                          chunked=True)
        assert_problem(r, 413, '64 MiB + 1 byte chunked')
        # Exactly 64 MiB is read and parsed (a bad header here: 422, not 413).
        r = self.raw_post(path, 64 * MIB, [block] * 64)
        self.assertIsNotNone(r)
        doc = self.errors_of(r)
        self.find(doc['errors'], 1, None, 'header')
        # Other routes keep the 1 MiB cap.
        big = b'{"title": "' + b'y' * MIB + b'"}'
        r = self.raw_post(API + '/campaigns', len(big), [big], ctype='application/json')
        self.assertIsNotNone(r, 'no answer to 1 MiB + a bit')
        assert_problem(r, 413, '1 MiB + a bit to POST /campaigns')
        self.assertIn(str(MIB), r.json['detail'])
        self.assertHealthy('body caps')

    def test_media_types(self):
        body = 'organization_inn,indicator_code,value\n%s,R1,1\n' % self.inn['school1']
        assert_problem(self.post(body, ctype='text/plain'), 415, 'text/plain')
        assert_problem(self.post(body, ctype=None), 415, 'no Content-Type')
        assert_problem(self.post(body, ctype='text/csvx'), 415, 'text/csvx')

    # ================================================================ authorization

    def test_scope_and_roles(self):
        body = 'organization_inn,indicator_code,value\n%s,R1,1\n' % self.inn['school_b']
        assert_problem(self.post(body, campaign=self.camp_b), 404, 'region B campaign as reg-a')
        assert_problem(self.post(body, campaign=999999), 404, 'no such campaign')
        r = self.daemon.request('GET', '%s/campaigns/%d/imports' % (API, self.camp_b),
                                token=self.tok())
        assert_problem(r, 404, 'GET region B imports as reg-a')
        for login in ('muni-a', 'head-a', 'expert-a', 'portal-a'):
            assert_problem(self.post(body, token=self.tok(login)), 403, 'POST as ' + login)
            r = self.daemon.request('GET', '%s/campaigns/%d/imports' % (API, self.camp),
                                    token=self.tok(login))
            assert_problem(r, 403, 'GET as ' + login)
        r = self.daemon.request('POST', '%s/campaigns/%d/imports' % (API, self.camp), body=body,
                                headers={'Content-Type': 'text/csv'})
        assert_problem(r, 401, 'anonymous')
        # reg-b imports into its own campaign; the admin may import anywhere.
        r = self.post(body, campaign=self.camp_b, token=self.tok('reg-b'))
        assert_status(r, 201, 'reg-b into B')
        r = self.post(body.replace('R1,1', 'R1,2'), campaign=self.camp_b, token=self.tok('root'))
        assert_status(r, 201, 'admin into B')
        # Region B's INN is unknown in region A's campaign.
        doc = self.errors_of(self.post(body))
        self.find(doc['errors'], 2, 'organization_inn', 'takes part')

    def test_campaign_not_open(self):
        body = 'organization_inn,indicator_code,value\n%s,R1,1\n' % self.inn['school1']
        r = self.post(body, campaign=self.camp_draft)
        doc = assert_problem(r, 409, 'draft campaign')
        self.assertIn('draft', doc['detail'])
        self.sql("UPDATE campaigns SET status = 'closed' WHERE id = %d" % self.camp_draft)
        try:
            # Closed is fine; it has no indicators, so the code is unknown.
            doc = self.errors_of(self.post(body, campaign=self.camp_draft))
            self.find(doc['errors'], 2, 'indicator_code', 'no indicator')
            self.sql("UPDATE campaigns SET status = 'published' WHERE id = %d" % self.camp_draft)
            assert_problem(self.post(body, campaign=self.camp_draft), 409, 'published')
        finally:
            self.sql("UPDATE campaigns SET status = 'draft' WHERE id = %d" % self.camp_draft)

    # ================================================================ the list

    def test_list(self):
        path = '%s/campaigns/%d/imports' % (API, self.camp_b)
        for v in ('10', '11', '12'):
            body = 'organization_inn,indicator_code,value\n%s,R1,%s\n' % (self.inn['school_b'], v)
            assert_status(self.post(body, campaign=self.camp_b, token=self.tok('reg-b')), 201,
                          'import into B')
        r = self.daemon.request('GET', path, token=self.tok('reg-b'))
        assert_status(r, 200, 'list')
        ids = [x['id'] for x in r.json['items']]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertGreaterEqual(len(ids), 3)
        item = r.json['items'][0]
        for k in ('id', 'campaign_id', 'format', 'rows', 'values_written', 'values_unchanged',
                  'submissions_affected', 'actor_user_id', 'created_at'):
            self.assertIn(k, item)
        # Pages of one, newest first, end with next null.
        seen, cursor = [], None
        for _ in range(20):
            q = '?limit=1' + ('&cursor=' + cursor if cursor else '')
            r = self.daemon.request('GET', path + q, token=self.tok('root'))
            assert_status(r, 200, 'page')
            seen += [x['id'] for x in r.json['items']]
            cursor = r.json['next']
            if not cursor:
                break
        self.assertEqual(seen, ids)
        assert_problem(self.daemon.request('GET', path + '?limit=0', token=self.tok('root')),
                       400, 'limit=0')

    # ================================================ the values' parents (migration 0008)

    def test_values_parents_enforced(self):
        """The set-wise triggers that replaced the foreign keys of submission_values refuse
        every orphan, from either side; each statement runs in a rolled-back transaction."""
        ind = {code: int(self.one("SELECT id FROM indicators WHERE campaign_id = %d AND "
                                  "code = '%s'" % (self.camp, code))) for code in ('R1', 'R2')}
        ind_b = int(self.one("SELECT id FROM indicators WHERE campaign_id = %d" % self.camp_b))
        sub = int(self.one("SELECT s.id FROM submissions s WHERE s.campaign_id = %d AND NOT "
                           "EXISTS (SELECT 1 FROM submission_values v WHERE v.submission_id = "
                           "s.id) ORDER BY s.id LIMIT 1" % self.camp))
        user = self.users['portal-a'][0]  # a user nothing else refers to
        good = ("INSERT INTO submission_values (submission_id, indicator_id, value, updated_by) "
                "VALUES (%d, %d, 5, %d);" % (sub, ind['R1'], user))
        before = self.state()

        def attempt(sql, error):
            p = self.cluster.psql_run('BEGIN; %s ROLLBACK;' % sql)
            if error is None:
                self.assertEqual(p.returncode, 0, '%s: %s' % (sql, p.stderr))
            else:
                self.assertNotEqual(p.returncode, 0, 'accepted: %s' % sql)
                self.assertIn(error, p.stderr, sql)
        attempt(good, None)
        attempt(good.replace('VALUES (%d,' % sub, 'VALUES (1000000000000,'),
                'violates foreign key constraint "submission_values_submission_fkey"')
        attempt(good.replace(', %d, 5,' % ind['R1'], ', 1000000000000, 5,'),
                'violates foreign key constraint "submission_values_indicator_fkey"')
        attempt(good.replace(', %d, 5,' % ind['R1'], ', %d, 5,' % ind_b),
                'violates foreign key constraint "submission_values_indicator_fkey"')
        attempt(good.replace(', 5, %d)' % user, ', 5, 1000000000000)'),
                'violates foreign key constraint "submission_values_updated_by_fkey"')
        # A multi-row statement with one orphan among good rows fails whole.
        attempt("INSERT INTO submission_values (submission_id, indicator_id, value) VALUES "
                "(%d, %d, 1), (%d, %d, 2), (1000000000000, %d, 3);"
                % (sub, ind['R1'], sub, ind['R2'], ind['R1']), 'violates foreign key constraint "submission_values_submission_fkey"')
        attempt(good + " UPDATE submission_values SET submission_id = 1000000000000 "
                "WHERE submission_id = %d;" % sub, 'violates foreign key constraint "submission_values_submission_fkey"')
        attempt(good + " UPDATE submission_values SET indicator_id = %d WHERE submission_id = %d;"
                % (ind_b, sub), 'violates foreign key constraint "submission_values_indicator_fkey"')
        # Parents referred to by a value cannot go.
        attempt(good + " DELETE FROM submission_history WHERE submission_id = %d; "
                "DELETE FROM submission_scores WHERE submission_id = %d; "
                "DELETE FROM direction_scores WHERE submission_id = %d; "
                "DELETE FROM submissions WHERE id = %d;" % (sub, sub, sub, sub),
                'violates foreign key constraint "submission_values_submission_fkey"')
        attempt(good + " DELETE FROM indicators WHERE id = %d;" % ind['R1'],
                'violates foreign key constraint "submission_values_indicator_fkey"')
        attempt(good + " DELETE FROM users WHERE id = %d;" % user,
                'violates foreign key constraint "submission_values_updated_by_fkey"')
        attempt(good + " TRUNCATE submissions CASCADE;",
                'cannot truncate table "submissions": submission values refer to it')
        self.assertEqual(self.state(), before, 'nothing of the attempts stayed')


if __name__ == '__main__':
    harness.main()
