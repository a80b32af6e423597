#!/usr/bin/python3
"""
test_xlsx.py - spreadsheet downloads: XLSX (read back with openpyxl, an independent reader)
and CSV of the scores page, aggregates (and the public feed), the submissions list, outliers
and the cycle report. Every number of an XLSX equals the JSON of the same request and is a
numeric cell; headers are Russian; the header row is frozen; the report has one sheet per
step. CSV with delimiter=semicolon&decimal=comma parsed back; Content-Disposition on every
download; Accept negotiation with q-values and wildcards, 406 naming the types, 400 for a
bad format= or decimal=; a head's file holds only its own row; no temporary file is left.
"""
import csv
import io
import os
import re
import sys
import tempfile
from decimal import Decimal as D

import openpyxl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_cycle_report import CycleWorld  # noqa: E402
from test_scores import API, url  # noqa: E402

XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
CYRILLIC = re.compile('[А-Яа-яЁё]')
STEP_KEYS = ('goals', 'indicators', 'methods', 'monitoring', 'analysis', 'warnings',
             'recommendations', 'measures', 'decisions', 'effect')


def numbers(v, out):
    """Every number (not boolean) inside a JSON value, as floats."""
    if isinstance(v, bool) or v is None:
        return out
    if isinstance(v, (int, float, D)):
        out.append(float(v))
    elif isinstance(v, dict):
        for x in v.values():
            numbers(x, out)
    elif isinstance(v, list):
        for x in v:
            numbers(x, out)
    return out


def strings_in(v, out=None):
    """Every string inside a JSON value (data, which may look like anything)."""
    out = [] if out is None else out
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, dict):
        for x in v.values():
            strings_in(x, out)
    elif isinstance(v, list):
        for x in v:
            strings_in(x, out)
    return out


def sheet_rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def cell_numbers(ws):
    return [float(c) for r in ws.iter_rows(values_only=True) for c in r
            if isinstance(c, (int, float)) and not isinstance(c, bool)]


class XlsxTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.mkdtemp(prefix='effmon-xlsx-test-')
        cls.daemon_env = {'TMPDIR': cls.tmpdir}
        super().setUpClass()
        cls.w = CycleWorld(cls.daemon, cls.cluster)
        cls.plant_outliers()

    @classmethod
    def plant_outliers(cls):
        w = cls.w
        ind = next(i for i in w.catalog[w.cur] if i['type'] in ('number', 'percent')
                   and i['weights'].get('school', 0) > 0 and i['source'] == 'self')
        sids = [int(r[0]) for r in w.rows(
            "SELECT s.id FROM submissions s WHERE s.campaign_id = %d AND s.kind = 'school' "
            "AND s.status IN ('submitted', 'verified', 'approved') ORDER BY s.id" % w.cur)]
        mid = (ind['min'] + ind['max']) / 2
        for i, sid in enumerate(sids):
            v = mid + D(i % 3) / 10 if sid != sids[-1] else mid * 1000 + 1000
            w.sql("INSERT INTO submission_values (submission_id, indicator_id, value) VALUES "
                  "(%d, %d, %s) ON CONFLICT (submission_id, indicator_id) DO UPDATE SET "
                  "value = EXCLUDED.value" % (sid, ind['id'], v))
        w.sql("UPDATE submission_values SET submitted_value = 5.25, verified_value = 7.5 "
              "WHERE submission_id = %d AND indicator_id = %d" % (sids[0], ind['id']))
        w.sql('SELECT em_rescore_campaign(%d)' % w.cur)

    # --- helpers

    def get(self, path, token, accept=None, expect=200, **params):
        r = self.w.get(url(path, **params), token,
                       headers={'Accept': accept} if accept else None)
        assert_status(r, expect, '%s %r %r' % (path, accept, params))
        return r

    def xlsx(self, path, token, via_format=False, **params):
        if via_format:
            r = self.get(path, token, format='xlsx', **params)
        else:
            r = self.get(path, token, accept=XLSX, **params)
        self.assertEqual(r.headers['content-type'], XLSX)
        self.check_disposition(r, 'xlsx')
        self.assertTrue(r.body.startswith(b'PK'), 'a zip container')
        return openpyxl.load_workbook(io.BytesIO(r.body))

    def check_disposition(self, r, ext):
        cd = r.headers.get('content-disposition')
        self.assertIsNotNone(cd, 'Content-Disposition on a download')
        m = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', cd)
        self.assertIsNotNone(m, cd)
        self.assertTrue(m.group(1).endswith('.' + ext), cd)

    def check_sheet_basics(self, ws, header):
        self.assertEqual(ws.freeze_panes, 'A2', 'header row frozen')
        for h in header:
            self.assertIsNotNone(h)
            self.assertRegex(h, CYRILLIC, 'Russian header %r' % h)
        widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width
                  for i in range(len(header))]
        for h, wdt in zip(header, widths):
            self.assertGreaterEqual(wdt, 8, 'column %s has a width' % h)
            self.assertLessEqual(wdt, 61)

    def compare_table(self, ws, items, columns):
        """Rows of ws (after the header) against items; columns: [(header, getter)]."""
        rows = sheet_rows(ws)
        header = rows[0]
        self.check_sheet_basics(ws, header)
        self.assertEqual(len(rows) - 1, len(items))
        idx = {h: header.index(h) for h, _ in columns}
        for row, item in zip(rows[1:], items):
            for h, get in columns:
                want, got = get(item), row[idx[h]]
                if want is None:
                    self.assertIsNone(got, h)
                elif isinstance(want, bool):
                    self.assertIs(got, want, h)
                elif isinstance(want, (int, D, float)):
                    self.assertIsInstance(got, (int, float), '%s: a numeric cell' % h)
                    self.assertNotIsInstance(got, bool)
                    self.assertEqual(float(got), float(want), h)
                else:
                    self.assertEqual(got, want, h)
        return header

    # --- scores

    def test_01_scores_xlsx(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        doc = w.json(self.get(path, w.tok['regional_operator'], limit=200))
        self.assertGreater(len(doc['items']), 5)
        for via in (False, True):
            wb = self.xlsx(path, w.tok['regional_operator'], via_format=via, limit=200)
            ws = wb.worksheets[0]
            cols = [('Анкета', lambda i: i['submission_id']),
                    ('Образовательная организация', lambda i: i['organization_name']),
                    ('Итоговый балл', lambda i: i['total']),
                    ('Полнота данных', lambda i: i['completeness']),
                    ('Место в регионе', lambda i: i['rank_region']),
                    ('Место в муниципалитете', lambda i: i['rank_municipality']),
                    ('Группа сравнения', lambda i: i['cluster']),
                    ('Место в группе', lambda i: i['rank_cluster']),
                    ('Уровень', lambda i: i['level'])]
            for code in doc['items'][0]['directions']:
                cols.append(('Направление %s' % code,
                             lambda i, c=code: i['directions'][c]))
            self.compare_table(ws, doc['items'], cols)
            # Every number of the JSON rows is a numeric cell, and nothing else is.
            self.assertEqual(sorted(cell_numbers(ws)), sorted(numbers(doc['items'], [])))
            # A 2-decimal number format on the totals.
            col = sheet_rows(ws)[0].index('Итоговый балл') + 1
            self.assertEqual(ws.cell(row=2, column=col).number_format, '0.00')

    def test_02_head_sees_own_row_only(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        doc = w.json(self.get(path, w.tok['head']))
        wb = self.xlsx(path, w.tok['head'])
        rows = sheet_rows(wb.worksheets[0])
        self.assertEqual(len(rows) - 1, len(doc['items']))
        self.assertEqual([r[1] for r in rows[1:]], [w.head_org] * len(doc['items']))
        text = self.get(path, w.tok['head'], accept='text/csv').body.decode('utf-8-sig')
        recs = list(csv.reader(io.StringIO(text, newline='')))
        self.assertEqual(len(recs) - 1, len(doc['items']))
        for r in recs[1:]:
            self.assertEqual(int(r[1]), w.head_org)

    def test_03_scores_csv_semicolon_comma(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        doc = w.json(self.get(path, w.tok['regional_operator'], limit=200))
        r = self.get(path, w.tok['regional_operator'], accept='text/csv', limit=200,
                     delimiter='semicolon', decimal='comma')
        self.assertTrue(r.headers['content-type'].startswith('text/csv'))
        self.check_disposition(r, 'csv')
        self.assertTrue(r.body.startswith(b'\xef\xbb\xbf'))
        text = r.body[3:].decode('utf-8')
        rows = list(csv.reader(io.StringIO(text, newline=''), delimiter=';'))
        header = rows[0]
        self.assertIn('Итоговый балл', header)
        self.assertEqual(len(rows) - 1, len(doc['items']))
        seen_decimal = False
        for row, item in zip(rows[1:], doc['items']):
            rec = dict(zip(header, row))
            self.assertEqual(int(rec['Анкета']), item['submission_id'])
            if item['total'] is None:
                self.assertEqual(rec['Итоговый балл'], '')
                continue
            self.assertNotIn('.', rec['Итоговый балл'])
            self.assertEqual(D(rec['Итоговый балл'].replace(',', '.')), item['total'])
            seen_decimal = seen_decimal or ',' in rec['Итоговый балл']
        self.assertTrue(seen_decimal, 'some total has a decimal comma')
        # decimal=comma with the comma delimiter: such fields are quoted.
        r = self.get(path, w.tok['regional_operator'], accept='text/csv', limit=200,
                     decimal='comma')
        rows = list(csv.reader(io.StringIO(r.body.decode('utf-8-sig'), newline='')))
        self.assertTrue(all(len(x) == len(rows[0]) for x in rows))

    # --- aggregates and the public feed

    def test_04_aggregates(self):
        w = self.w
        path = API + '/aggregates'
        params = dict(campaign=w.cur, group_by='municipality,kind')
        doc = w.json(self.get(path, w.tok['regional_operator'], **params))
        wb = self.xlsx(path, w.tok['regional_operator'], **params)
        ws = wb.worksheets[0]
        self.compare_table(ws, doc['groups'], [
            ('Код муниципалитета', lambda g: g['municipality_id']),
            ('Муниципалитет', lambda g: g['municipality_name']),
            ('Средний балл', lambda g: g['mean']),
            ('Медиана', lambda g: g['median']),
            ('Уровень «высокий»', lambda g: g['levels']['high']),
            ('Скрыто (мало организаций)', lambda g: g.get('suppressed'))])
        self.assertEqual(sorted(cell_numbers(ws)), sorted(numbers(doc['groups'], [])))
        # CSV: the JSON keys as header (as before), decimal comma.
        r = self.get(path, w.tok['regional_operator'], accept='text/csv',
                     delimiter='semicolon', decimal='comma', **params)
        self.check_disposition(r, 'csv')
        rows = list(csv.reader(io.StringIO(r.body.decode('utf-8-sig'), newline=''),
                               delimiter=';'))
        self.assertEqual(rows[0][:3], ['municipality_id', 'municipality_name', 'kind'])
        for row, g in zip(rows[1:], doc['groups']):
            rec = dict(zip(rows[0], row))
            want = g['mean']
            self.assertEqual(D(rec['mean'].replace(',', '.')) if rec['mean'] else None, want)
        # A cached XLSX answer still has its Content-Disposition.
        again = self.get(path, w.tok['regional_operator'], accept=XLSX, **params)
        self.check_disposition(again, 'xlsx')
        self.assertEqual(again.headers['content-type'], XLSX)
        # The public feed of the published campaign.
        pdoc = w.json(self.get(API + '/public/aggregates', None, campaign=w.prev,
                               group_by='kind'))
        wb = self.xlsx(API + '/public/aggregates', None, campaign=w.prev, group_by='kind')
        ws = wb.worksheets[0]
        self.assertEqual(sorted(cell_numbers(ws)), sorted(numbers(pdoc['groups'], [])))
        self.check_sheet_basics(ws, sheet_rows(ws)[0])
        # The index of published campaigns is JSON only.
        assert_problem(self.get(API + '/public/aggregates', None, accept=XLSX, expect=406),
                       406)

    # --- submissions list and outliers

    def test_05_submissions(self):
        w = self.w
        path = API + '/submissions'
        for token in (w.tok['regional_operator'], w.tok['municipal_operator'],
                      w.tok['head']):
            doc = w.json(self.get(path, token, campaign_id=w.cur, limit=200))
            wb = self.xlsx(path, token, campaign_id=w.cur, limit=200)
            ws = wb.worksheets[0]
            self.compare_table(ws, doc['items'], [
                ('Анкета', lambda s: s['id']),
                ('Код ОО', lambda s: s['organization_id']),
                ('Статус', lambda s: s['status']),
                ('Итоговый балл', lambda s: (s['score'] or {}).get('total')),
                ('Версия', lambda s: s['version'])])
            self.assertEqual(sorted(cell_numbers(ws)), sorted(numbers(doc['items'], [])))
        # A head's file: its own organization only.
        wb = self.xlsx(path, w.tok['head'], campaign_id=w.cur)
        rows = sheet_rows(wb.worksheets[0])
        self.assertGreaterEqual(len(rows), 2)
        self.assertEqual({r[2] for r in rows[1:]}, {w.head_org})

    def test_06_outliers(self):
        w = self.w
        path = '%s/campaigns/%d/outliers' % (API, w.cur)
        doc = w.json(self.get(path, w.tok['regional_operator']))
        self.assertGreater(len(doc['z_score']['items']), 0)
        self.assertGreater(len(doc['changed']['items']), 0)
        wb = self.xlsx(path, w.tok['regional_operator'])
        self.assertEqual(len(wb.worksheets), 2)
        z, ch = wb.worksheets
        self.compare_table(z, doc['z_score']['items'], [
            ('Анкета', lambda x: x['submission_id']), ('z-оценка', lambda x: x['z']),
            ('Значение', lambda x: x['value']), ('Число значений', lambda x: x['n'])])
        self.assertEqual(sorted(cell_numbers(z)), sorted(numbers(doc['z_score']['items'], [])))
        self.compare_table(ch, doc['changed']['items'], [
            ('Представлено', lambda x: x['submitted_value']),
            ('После проверки', lambda x: x['verified_value']),
            ('Изменение', lambda x: x['change'])])
        self.assertEqual(sorted(cell_numbers(ch)),
                         sorted(numbers(doc['changed']['items'], [])))
        r = self.get(path, w.tok['regional_operator'], format='csv', decimal='comma',
                     delimiter='semicolon')
        self.check_disposition(r, 'csv')
        text = r.body.decode('utf-8-sig')
        self.assertIn('Изменение', text)
        self.assertIn('2,25', text, 'the planted change 7.5 - 5.25 with a decimal comma')

    # --- the cycle report

    def test_07_cycle_report(self):
        w = self.w
        path = '%s/campaigns/%d/cycle-report' % (API, w.cur)
        for params in ({}, {'municipality_id': w.muni_a1}):
            doc = w.json(self.get(path, w.tok['regional_operator'], **params))
            wb = self.xlsx(path, w.tok['regional_operator'], **params)
            self.assertEqual(len(wb.worksheets), 1 + len(doc['steps']),
                             'a heading sheet and one per step')
            self.assertEqual([s['key'] for s in doc['steps']], list(STEP_KEYS))
            head = {k: doc[k] for k in ('campaign', 'territory', 'generated_at', 'as_of')}
            self.assertEqual(sorted(cell_numbers(wb.worksheets[0])), sorted(numbers(head, [])))
            for ws, step in zip(wb.worksheets[1:], doc['steps']):
                self.assertRegex(ws.title, CYRILLIC)
                rows = sheet_rows(ws)
                self.assertEqual(rows[0][:2], ['Показатель', 'Значение'])
                self.assertEqual(ws.freeze_panes, 'A2')
                want = numbers({k: v for k, v in step.items() if k != 'key'}, [])
                self.assertEqual(sorted(cell_numbers(ws)), sorted(want), step['key'])
                # Labels and headers are Russian, not JSON keys.
                labels = [r[0] for r in rows[1:] if isinstance(r[0], str) and r[1:2] != [None]]
                for h in rows[0] + labels:
                    if isinstance(h, str) and h not in set(strings_in(step)):
                        self.assertNotRegex(h, r'[a-z]_[a-z]', 'a JSON key left: %r' % h)
        # The CSV: tables with Russian headers, not flattened JSON keys.
        r = self.get(path, w.tok['regional_operator'], accept='text/csv',
                     delimiter='semicolon', decimal='comma')
        self.check_disposition(r, 'csv')
        text = r.body.decode('utf-8-sig')
        self.assertNotIn('items[', text)
        self.assertNotIn('by_status.', text)
        rows = list(csv.reader(io.StringIO(text, newline=''), delimiter=';'))
        self.assertGreaterEqual(sum(1 for x in rows if x[:2] == ['Показатель', 'Значение']),
                                len(STEP_KEYS))
        doc = w.json(self.get(path, w.tok['regional_operator']))
        got = []
        for x in rows:
            for c in x:
                if re.fullmatch(r'-?\d+(,\d+)?', c):
                    got.append(float(c.replace(',', '.')))
        want = numbers(doc['steps'], [])
        for k in ('campaign', 'territory'):
            numbers(doc[k], want)
        for v in want:
            self.assertIn(v, got)
        # A municipal operator's file is of its municipality.
        wb = self.xlsx(path, w.tok['municipal_operator'])
        mdoc = w.json(self.get(path, w.tok['municipal_operator']))
        self.assertEqual(mdoc['territory']['municipality']['id'], w.muni_a1)
        self.assertEqual(sorted(cell_numbers(wb.worksheets[0])),
                         sorted(numbers({k: mdoc[k] for k in ('campaign', 'territory',
                                                              'generated_at', 'as_of')}, [])))

    # --- negotiation

    def test_08_negotiation(self):
        w = self.w
        tok = w.tok['regional_operator']
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        cases = [('text/csv;q=0.9, application/json', 'application/json'),
                 ('text/csv, application/json;q=0.5', 'text/csv'),
                 ('*/*', 'application/json'),
                 ('application/*', 'application/json'),
                 ('text/*', 'text/csv'),
                 ('*/*;q=0.1, %s' % XLSX, XLSX),
                 ('application/json;q=0, */*', 'text/csv')]
        for accept, want in cases:
            r = self.get(path, tok, accept=accept)
            self.assertTrue(r.headers['content-type'].startswith(want), (accept, want))
            self.assertIn('Accept', r.headers.get('vary', ''))
            if want != 'application/json':
                self.assertIn('content-disposition', r.headers)
        rpath = '%s/campaigns/%d/cycle-report' % (API, w.cur)
        r = self.get(rpath, tok, accept='text/html;q=0.5, text/csv;q=0.8')
        self.assertTrue(r.headers['content-type'].startswith('text/csv'))
        r = self.get(rpath, tok, accept='text/html,application/xhtml+xml,*/*;q=0.8')
        self.assertTrue(r.headers['content-type'].startswith('text/html'))
        # None acceptable: 406 naming what the route gives.
        for p in (path, rpath, API + '/submissions', API + '/aggregates?campaign=%d' % w.cur):
            r = self.get(p, tok, accept='image/png', expect=406)
            assert_problem(r, 406)
            detail = w.json(r)['detail']
            self.assertIn('application/json', detail)
            self.assertIn('text/csv', detail)
            self.assertIn(XLSX, detail)
        # A JSON-only route refuses an Accept without JSON, takes one with it.
        r = self.get('%s/organizations/%d' % (API, w.head_org), tok, accept='text/csv',
                     expect=406)
        assert_problem(r, 406)
        self.assertIn('application/json', w.json(r)['detail'])
        self.get('%s/organizations/%d' % (API, w.head_org), tok, accept='text/csv, */*;q=0.1')
        self.get('%s/organizations/%d' % (API, w.head_org), tok, accept='application/*')
        # format= beats Accept; unknown values are 400 naming the parameter.
        r = self.get(path, tok, accept=XLSX, format='json')
        self.assertTrue(r.headers['content-type'].startswith('application/json'))
        r = self.get(path, tok, format='csv')
        self.assertTrue(r.headers['content-type'].startswith('text/csv'))
        for p, fmt in ((path, 'pdf'), (path, 'html'), (rpath, 'XLSX'), (rpath, ''),
                       (API + '/submissions', 'xml')):
            r = self.get(p, tok, expect=400, format=fmt)
            assert_problem(r, 400)
            self.assertIn('format', [e['field'] for e in w.json(r)['errors']])
        for bad in ({'decimal': 'dot'}, {'delimiter': 'tab'}):
            r = self.get(path, tok, accept='text/csv', expect=400, **bad)
            self.assertIn(list(bad)[0], [e['field'] for e in w.json(r)['errors']])
        # Scope: out-of-scope campaigns answer like missing ones, whatever the format.
        assert_problem(self.get('%s/campaigns/%d/scores' % (API, w.camp_b), tok,
                                accept=XLSX, expect=404), 404)
        assert_problem(self.get('%s/campaigns/%d/cycle-report' % (API, w.camp_b), tok,
                                format='xlsx', expect=404), 404)

    def test_99_no_temporary_files_left(self):
        self.assertEqual(os.listdir(self.tmpdir), [])


if __name__ == '__main__':
    harness.main()
