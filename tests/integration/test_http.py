#!/usr/bin/python3
"""
test_http.py - the HTTP layer: 404/405 + Allow, HEAD, X-Request-Id, body
framing and limits over raw sockets (Content-Length vs chunked, 413 before
reading, exact limit), media types, malformed JSON, and CORS. After every
test the daemon must still answer /healthz (no crash, no 500).
"""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import REQUEST_ID_RE, assert_problem, assert_status, http_bytes  # noqa: E402

ME = '/api/v1/auth/me'
TOKEN = '/api/v1/auth/token'
MAX_BODY = 4096
APP = 'https://app.example'
OTHER = 'https://other.example'
EVIL = 'https://evil.example'

_seq = [0]


def unique_login():
    _seq[0] += 1
    return 'nobody-%d-%d' % (os.getpid(), _seq[0])


def login_body(size=None, login=None):
    """A well-formed login body for an unknown login, padded with spaces to size bytes."""
    b = json.dumps({'login': login or unique_login(), 'password': 'wrong-password'})
    if size is not None:
        assert len(b) <= size
        b = b[:-1] + ' ' * (size - len(b)) + '}'
        assert len(b) == size
    return b.encode('utf-8')


def chunked(data, size):
    out = b''
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b'%x\r\n' % len(piece) + piece + b'\r\n'
    return out + b'0\r\n\r\n'


class HttpTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_MAX_BODY': str(MAX_BODY),
                  'EFFMON_CORS_ORIGINS': APP + ',' + OTHER}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uid = cls.daemon.create_user('root', 'admin', 'correct horse battery')
        cls.tok = cls.daemon.token(cls.uid, 'admin')

    def tearDown(self):
        self.assertHealthy(self.id())

    def req(self, method, path, **kw):
        r = self.daemon.request(method, path, **kw)
        self.assertNotEqual(r.status, 500, '%s %s -> %r' % (method, path, r))
        return r

    def post_login(self, body, ctype='application/json'):
        headers = {'Content-Type': ctype} if ctype is not None else {}
        return self.req('POST', TOKEN, body=body, headers=headers)

    def raw(self, headers, body=b'', method='POST', path=TOKEN, **kw):
        r = self.daemon.raw(http_bytes(method, path, headers, body, port=self.daemon.port), **kw)
        self.assertIsNotNone(r, 'no response to %s %s %r' % (method, path, headers))
        self.assertNotEqual(r.status, 500, r)
        return r

    # ------------------------------------------------------------ routing

    def test_404_unknown_paths(self):
        for path in ('/', '/nope', '/api/v1/nope', '/api/v1/auth/me/extra', '/api/v2/auth/me',
                     '/api/v1/auth', '/healthzz', '/api/v1/auth/token/x'):
            with self.subTest(path=path):
                r = self.req('GET', path, token=self.tok)
                assert_problem(r, 404, 'GET ' + path)

    def test_404_post_unknown_path(self):
        r = self.req('POST', '/api/v1/nope', body={'a': 1})
        assert_problem(r, 404, 'POST /api/v1/nope')
        r = self.req('POST', '/api/v1/nope', body='x', headers={'Content-Type': 'text/plain'})
        assert_problem(r, 404, 'POST /api/v1/nope text/plain')

    def allow_set(self, r):
        allow = r.headers.get('allow')
        self.assertIsNotNone(allow, 'no Allow header on 405: %r' % r)
        return {m.strip().upper() for m in allow.split(',') if m.strip()}

    def test_405_delete_me(self):
        r = self.req('DELETE', ME, token=self.tok)
        assert_problem(r, 405, 'DELETE ' + ME)
        allow = self.allow_set(r)
        self.assertIn('GET', allow, r)
        self.assertNotIn('DELETE', allow, r)
        self.assertNotIn('POST', allow, r)

    def test_405_post_healthz(self):
        r = self.req('POST', '/healthz', body={})
        assert_problem(r, 405, 'POST /healthz')
        allow = self.allow_set(r)
        self.assertIn('GET', allow, r)
        self.assertNotIn('POST', allow, r)

    def test_405_get_token(self):
        for m in ('GET', 'PUT', 'DELETE', 'PATCH'):
            with self.subTest(method=m):
                r = self.req(m, TOKEN)
                assert_problem(r, 405, m + ' ' + TOKEN)
                allow = self.allow_set(r)
                self.assertIn('POST', allow, r)
                self.assertNotIn(m, allow, r)

    def test_405_put_readyz_metrics(self):
        for path in ('/readyz', '/metrics', '/api/v1/openapi.yaml'):
            with self.subTest(path=path):
                r = self.req('PUT', path, body={})
                assert_problem(r, 405, 'PUT ' + path)
                self.assertIn('GET', self.allow_set(r))

    def test_head_healthz(self):
        get = self.raw([], method='GET', path='/healthz', until_close=True, timeout=3)
        head = self.raw([], method='HEAD', path='/healthz', until_close=True, timeout=3)
        assert_status(get, 200, 'GET /healthz')
        assert_status(head, 200, 'HEAD /healthz')
        self.assertTrue(head.closed, 'HEAD with Connection: close not closed within 3 s')
        self.assertEqual(head.trailing, b'', 'HEAD /healthz sent a body: %r' % head.raw)
        self.assertEqual(json.loads(get.body), {'status': 'ok'}, get)
        skip = {'date', 'x-request-id', 'connection'}
        gh = {k: v for k, v in get.headers.items() if k not in skip}
        hh = {k: v for k, v in head.headers.items() if k not in skip}
        self.assertEqual(hh, gh, 'HEAD headers differ from GET')

    def test_head_unknown_path(self):
        head = self.raw([], method='HEAD', path='/nope', until_close=True, timeout=3)
        assert_status(head, 404, 'HEAD /nope')
        self.assertEqual(head.trailing, b'', 'HEAD /nope sent a body: %r' % head.raw)

    def test_head_me(self):
        head = self.raw([('Authorization', 'Bearer ' + self.tok)], method='HEAD', path=ME,
                        until_close=True, timeout=3)
        assert_status(head, 200, 'HEAD ' + ME)
        self.assertEqual(head.trailing, b'', 'HEAD %s sent a body: %r' % (ME, head.raw))
        self.assertTrue(head.headers.get('content-type', '').startswith('application/json'))

    def test_query_string_ignored_by_routing(self):
        assert_status(self.req('GET', '/healthz?x=1'), 200, 'GET /healthz?x=1')
        assert_status(self.req('GET', ME + '?a=b&c', token=self.tok), 200, 'GET me?a=b&c')
        assert_problem(self.req('GET', '/nope?x=1'), 404, 'GET /nope?x=1')

    def test_keep_alive_and_pipelining(self):
        req = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
        body = login_body()
        post = http_bytes('POST', TOKEN, [('Content-Type', 'application/json'),
                                          ('Content-Length', str(len(body)))], body,
                          port=self.daemon.port, close=False)
        with socket.create_connection((harness.HOST, self.daemon.port), timeout=5) as s:
            s.settimeout(5)

            def read_one():
                buf = b''
                while b'\r\n\r\n' not in buf:
                    got = s.recv(4096)
                    self.assertTrue(got, 'connection closed between requests: %r' % buf)
                    buf += got
                head, _, rest = buf.partition(b'\r\n\r\n')
                n = int(dict(line.split(b': ', 1) for line in head.split(b'\r\n')[1:]
                             if b': ' in line).get(b'Content-Length', b'0'))
                while len(rest) < n:
                    got = s.recv(4096)
                    self.assertTrue(got, 'connection closed inside a body')
                    rest += got
                self.assertEqual(len(rest), n, 'extra bytes after a response: %r' % rest)
                return int(head.split(b' ')[1])

            for what, data, expect in (('GET', req, 200), ('POST', post, 401), ('GET', req, 200),
                                       ('404', b'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 404),
                                       ('GET', req, 200)):
                s.sendall(data)
                self.assertEqual(read_one(), expect, '%s on a kept-alive connection' % what)
            # two pipelined requests in one write
            s.sendall(req + req)
            buf = b''
            deadline = time.monotonic() + 3
            while buf.count(b'HTTP/1.1 200') < 2 and time.monotonic() < deadline:
                got = s.recv(65536)
                if not got:
                    break
                buf += got
            self.assertEqual(buf.count(b'HTTP/1.1 200'), 2, 'pipelined requests: %r' % buf)

    def test_http10(self):
        r = self.daemon.raw(b'GET /healthz HTTP/1.0\r\n\r\n', until_close=True, timeout=3)
        self.assertIsNotNone(r, 'no answer to HTTP/1.0')
        assert_status(r, 200, 'GET /healthz HTTP/1.0')
        self.assertTrue(r.closed, 'HTTP/1.0 without keep-alive was not closed')

    def test_expect_100_huge_413(self):
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', '99999999999'),
                      ('Expect', '100-continue')], timeout=3, until_close=True)
        self.assertFalse(r.raw.startswith(b'HTTP/1.1 100'),
                         '100 Continue for a body that will be refused: %r' % r.raw[:200])
        assert_problem(r, 413, 'Expect: 100-continue with Content-Length 99999999999')

    def test_expect_100_small_body(self):
        body = login_body()
        head = http_bytes('POST', TOKEN, [('Content-Type', 'application/json'),
                                          ('Content-Length', str(len(body))),
                                          ('Expect', '100-continue')], port=self.daemon.port)
        with socket.create_connection((harness.HOST, self.daemon.port), timeout=5) as s:
            s.sendall(head)
            s.settimeout(3)
            first = s.recv(4096)
            self.assertTrue(first.startswith(b'HTTP/1.1 100'), 'no 100 Continue: %r' % first)
            s.sendall(body)
            buf = first.partition(b'\r\n\r\n')[2]
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                got = s.recv(65536)
                if not got:
                    break
                buf += got
            self.assertTrue(buf.startswith(b'HTTP/1.1 401'), 'after 100 Continue: %r' % buf)

    def test_huge_header_no_crash(self):
        r = self.raw([('X-Big', 'a' * 100000)], method='GET', path='/healthz',
                     until_close=True, timeout=3)
        self.assertIn(r.status, (400, 431), r)

    @unittest.expectedFailure
    def test_bad_content_length_well_formed(self):
        # libmicrohttpd 0.9.75 answers an unparsable Content-Length itself, writing its
        # status line and headers twice (the daemon never sees the request). Known
        # library defect; this test records it and will flag when it is fixed.
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', 'abc')],
                     b'{}', timeout=3, until_close=True)
        self.assertEqual(r.raw.count(b'HTTP/1.1 '), 1, 'two status lines: %r' % r.raw)
        assert_problem(r, 400, 'Content-Length: abc')

    def test_id_segments(self):
        # {id}: decimal 1..9223372036854775807, no sign, no leading zero; anything else 404
        rid = self.cluster.add_scope()['region']
        r = self.req('GET', '/api/v1/regions/%d' % rid, token=self.tok)
        assert_status(r, 200, 'GET an existing region')
        self.assertEqual(r.json.get('id'), rid, r)
        n = str(rid)
        for seg in ('0', '0' + n, '-' + n, '+' + n, n + '.0', n + 'a', '0x1',
                    '9223372036854775808', '99999999999999999999999', '1e3', '%20' + n,
                    n + '%20', '%C2%B9', '%D9%A1'):
            with self.subTest(seg=seg):
                r = self.req('GET', '/api/v1/regions/' + seg, token=self.tok)
                assert_problem(r, 404, 'GET /api/v1/regions/%s' % seg)
        r = self.req('GET', '/api/v1/regions/9223372036854775807', token=self.tok)
        assert_problem(r, 404, 'GET /api/v1/regions/9223372036854775807 (largest id, absent)')
        r = self.req('GET', '/api/v1/regions/', token=self.tok)
        assert_problem(r, 404, 'GET /api/v1/regions/ (empty id)')

    # ------------------------------------------------------------ request ids

    def test_request_id_echoed(self):
        for rid in ('abc-123', 'A.b_c-9', 'x' * 64):
            with self.subTest(rid=rid):
                r = self.req('GET', '/healthz', headers={'X-Request-Id': rid})
                assert_status(r, 200)
                self.assertEqual(r.headers.get('x-request-id'), rid, r)
        r = self.req('GET', '/nope', headers={'X-Request-Id': 'abc-123'})
        doc = assert_problem(r, 404)
        self.assertEqual(r.headers.get('x-request-id'), 'abc-123', r)
        self.assertEqual(doc.get('request_id'), 'abc-123', r)

    def test_request_id_replaced(self):
        for rid in ('bad id with spaces', 'y' * 200, 'z' * 65, 'a/b', 'a;b', 'é'):
            with self.subTest(rid=rid):
                r = self.raw([('X-Request-Id', rid)], method='GET', path='/healthz')
                assert_status(r, 200)
                got = r.headers.get('x-request-id')
                self.assertIsNotNone(got, r)
                self.assertNotEqual(got, rid, r)
                self.assertRegex(got, REQUEST_ID_RE, r)

    def test_request_id_generated_unique(self):
        ids = set()
        for path in ('/healthz', '/nope', '/healthz', ME):
            r = self.req('GET', path)
            rid = r.headers.get('x-request-id')
            self.assertIsNotNone(rid, 'no X-Request-Id on GET %s: %r' % (path, r))
            self.assertRegex(rid, REQUEST_ID_RE)
            ids.add(rid)
        self.assertEqual(len(ids), 4, 'generated request ids repeat: %r' % ids)

    # ------------------------------------------------------------ framing

    def test_content_length_and_chunked(self):
        body = login_body()
        r = self.raw([('Content-Type', 'application/json'),
                      ('Content-Length', str(len(body))),
                      ('Transfer-Encoding', 'chunked')], chunked(body, 16))
        assert_problem(r, 400, 'Content-Length + Transfer-Encoding: chunked')

    def test_two_content_lengths(self):
        body = login_body()
        r = self.raw([('Content-Type', 'application/json'),
                      ('Content-Length', str(len(body))),
                      ('Content-Length', str(len(body) + 5))], body + b'     ')
        assert_problem(r, 400, 'two different Content-Length headers')

    def test_bad_content_length(self):
        for cl in ('-1', 'abc', '1 2'):
            with self.subTest(cl=cl):
                r = self.raw([('Content-Type', 'application/json'), ('Content-Length', cl)],
                             b'{}', timeout=3)
                assert_status(r, 400, 'Content-Length: %s' % cl)

    def test_huge_content_length_413_before_body(self):
        t0 = time.monotonic()
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', '99999999999')],
                     b'', timeout=3)
        took = time.monotonic() - t0
        assert_problem(r, 413, 'Content-Length: 99999999999, no body sent')
        self.assertLess(took, 2.0, 'the 413 took %.2fs' % took)

    def test_content_length_over_limit_413(self):
        body = login_body(MAX_BODY + 1)
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', str(len(body)))],
                     body)
        assert_problem(r, 413, 'a %d-byte body' % len(body))

    def test_exact_limit_not_413(self):
        body = login_body(MAX_BODY)
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', str(len(body)))],
                     body)
        assert_problem(r, 401, 'a login body of exactly EFFMON_MAX_BODY bytes (unknown login)')

    def test_chunked_within_limit(self):
        body = login_body(MAX_BODY)
        r = self.raw([('Content-Type', 'application/json'), ('Transfer-Encoding', 'chunked')],
                     chunked(body, 1000))
        assert_problem(r, 401, 'a chunked login body of exactly EFFMON_MAX_BODY bytes')

    def test_chunked_over_limit_413(self):
        body = login_body(MAX_BODY + 1000)
        r = self.raw([('Content-Type', 'application/json'), ('Transfer-Encoding', 'chunked')],
                     chunked(body, 1000))
        assert_problem(r, 413, 'a chunked body growing to %d bytes' % len(body))

    def test_chunked_over_limit_slowly_413(self):
        data = login_body(3 * MAX_BODY)
        pieces = [b'%x\r\n' % 2048 + data[i:i + 2048] + b'\r\n'
                  for i in range(0, len(data) - 2048, 2048)]
        head = http_bytes('POST', TOKEN, [('Content-Type', 'application/json'),
                                          ('Transfer-Encoding', 'chunked')],
                          port=self.daemon.port)
        r = self.daemon.raw(head, chunks=pieces + [b'0\r\n\r\n'], chunk_delay=0.05, timeout=5)
        self.assertIsNotNone(r, 'no response to a slowly growing chunked body')
        assert_problem(r, 413, 'a chunked body growing past the limit in 2 KiB steps')

    def test_no_body_400(self):
        r = self.raw([('Content-Type', 'application/json'), ('Content-Length', '0')])
        assert_problem(r, 400, 'POST with Content-Length: 0')
        r = self.raw([('Content-Type', 'application/json')])
        assert_problem(r, 400, 'POST without a body')

    # ------------------------------------------------------------ media types and JSON

    def test_text_plain_415(self):
        r = self.post_login(login_body(), 'text/plain')
        assert_problem(r, 415, 'POST text/plain')

    def test_other_media_types_415(self):
        for ct in ('application/jsonx', 'application/x-www-form-urlencoded',
                   'multipart/form-data; boundary=x', 'application/json-patch+json'):
            with self.subTest(ct=ct):
                assert_problem(self.post_login(login_body(), ct), 415, 'POST ' + ct)

    def test_no_content_type_415(self):
        r = self.post_login(login_body(), None)
        assert_problem(r, 415, 'POST a JSON body without Content-Type')

    def test_json_charset_accepted(self):
        r = self.post_login(login_body(), 'application/json; charset=utf-8')
        assert_problem(r, 401, 'POST application/json; charset=utf-8 (unknown login)')

    def test_other_charsets_415(self):
        for ct, cs in (('application/json; charset=latin1', 'latin1'),
                       ('application/json;charset="windows-1251"', 'windows-1251'),
                       ('application/json; charset=utf-16', 'utf-16'),
                       ('application/json; charset=', '')):
            with self.subTest(ct=ct):
                doc = assert_problem(self.post_login(login_body(), ct), 415, 'POST ' + ct)
                self.assertIn('charset %s ' % cs, doc['detail'], doc)
        # every body is checked before its handler, a CSV import too
        r = self.req('POST', '/api/v1/campaigns/1/imports', token=self.tok, body=b'a;b\n',
                     headers={'Content-Type': 'text/csv; charset=windows-1251'})
        doc = assert_problem(r, 415, 'a CSV import in windows-1251')
        self.assertIn('windows-1251', doc['detail'])
        # a request without a body is not refused for its Content-Type
        assert_status(self.req('GET', ME, token=self.tok,
                               headers={'Content-Type': 'application/json; charset=latin1'}),
                      200, 'GET with a latin1 Content-Type and no body')

    def test_utf8_charset_spellings_accepted(self):
        for ct in ('application/json; charset=UTF-8', 'application/json;charset=utf-8',
                   'application/json; charset="utf-8"', 'application/json; CharSet=Utf-8'):
            with self.subTest(ct=ct):
                assert_problem(self.post_login(login_body(), ct), 401, 'POST ' + ct)

    def test_json_media_type_case_insensitive(self):
        r = self.post_login(login_body(), 'Application/JSON')
        assert_problem(r, 401, 'POST Application/JSON (unknown login)')

    def test_malformed_json(self):
        for body in (b'{"login":', b'{login: "a"}', b"{'login':'a'}", b'{"login":"a",}',
                     b'{"login":"a","password":"b"} x', b'{"login":"a"}{"password":"b"}',
                     b'\x00'):
            with self.subTest(body=body):
                r = self.post_login(body)
                assert_problem(r, 400, 'POST malformed JSON %r' % body)
                self.assertNotIn('errors', r.json or {},
                                 'syntax errors are not field errors: %r' % r)

    def test_duplicate_keys(self):
        r = self.post_login(b'{"login":"a","login":"b","password":"x"}')
        assert_problem(r, 400, 'POST duplicate "login"')
        r = self.post_login(b'{"login":"a","password":"x","password":"x"}')
        assert_problem(r, 400, 'POST duplicate identical "password"')

    def test_non_object_top_level(self):
        for body in (b'[]', b'[{"login":"a","password":"b"}]', b'"string"', b'42', b'null',
                     b'true'):
            with self.subTest(body=body):
                assert_problem(self.post_login(body), 400, 'POST top level %r' % body)

    def test_invalid_utf8(self):
        for body in (b'{"login":"\xff\xfe","password":"xxxxxxxx"}',
                     b'{"login":"\xc0\xaf","password":"xxxxxxxx"}',
                     b'{"login":"a","password":"\xed\xa0\x80"}'):
            with self.subTest(body=body):
                assert_problem(self.post_login(body), 400, 'POST invalid UTF-8 %r' % body)

    def test_deep_nesting(self):
        body = b'{"login":' + b'[' * 1500 + b']' * 1500 + b',"password":"x"}'
        r = self.post_login(body)
        assert_problem(r, 400, 'POST deeply nested JSON')

    def test_nul_in_string(self):
        r = self.post_login(b'{"login":"a\\u0000b","password":"xxxxxxxxx"}')
        self.assertIn(r.status, (400, 401), 'login with an escaped NUL: %r' % r)
        assert_problem(r, r.status)

    # ------------------------------------------------------------ conditional requests

    def new_organization(self):
        return '/api/v1/organizations/%d' % self.cluster.add_scope()['organization']

    def etag_of(self, path):
        r = self.req('GET', path, token=self.tok)
        assert_status(r, 200, 'GET ' + path)
        tag = r.headers.get('etag')
        self.assertTrue(tag and tag.startswith('"'), r)
        return tag

    def test_if_none_match_lists_and_star(self):
        one = self.new_organization()
        tag = self.etag_of(one)
        for inm in (tag, 'W/' + tag, '"x", ' + tag, '"a,b", W/%s , "y"' % tag, '  %s\t' % tag,
                    '"x",,' + tag, '*', ' * '):
            with self.subTest(inm=inm):
                for method in ('GET', 'HEAD'):
                    r = self.req(method, one, token=self.tok, headers={'If-None-Match': inm})
                    assert_status(r, 304, '%s If-None-Match: %s' % (method, inm))
                    self.assertEqual(r.body, b'', 'a 304 with a body')
                    self.assertEqual(r.headers.get('etag'), tag)
        # no match, or not a list of entity-tags: the full answer
        for inm in ('"x"', '"x", "y"', '"%s"' % tag, tag[:-1], 'junk', tag + ' junk',
                    '*, ' + tag, 'w/' + tag, tag + 'x', '"x", junk, ' + tag, ''):
            with self.subTest(inm=inm):
                r = self.req('GET', one, token=self.tok, headers={'If-None-Match': inm})
                assert_status(r, 200, 'If-None-Match: %r' % inm)
                self.assertEqual(r.json.get('id'), int(one.rsplit('/', 1)[1]), r)

    def scoped_operator(self):
        """A regional operator of a fresh region, and an organization of another one."""
        region = self.cluster.add_scope()['region']
        login = unique_login()
        self.daemon.create_user(login, 'regional_operator', 'correct horse battery',
                                region=region)
        return self.daemon.login(login, 'correct horse battery')

    def patch_org(self, one, if_match, token=None):
        headers = {} if if_match is None else {'If-Match': if_match}
        return self.req('PATCH', one, token=token or self.tok,
                        body={'short_name': 'Школа %d' % time.monotonic_ns()}, headers=headers)

    def test_if_match_is_strong(self):
        one = self.new_organization()
        tag = self.etag_of(one)
        doc = assert_problem(self.patch_org(one, 'W/' + tag), 412, 'weak If-Match')
        self.assertIn('weak', doc['detail'])
        assert_problem(self.patch_org(one, 'W/"x", W/' + tag), 412, 'only weak tags')
        self.assertEqual(self.etag_of(one), tag, 'a refused PATCH changed the object')
        for bad in ('junk', tag + ' junk', tag[:-1], '"x", junk', '*, ' + tag, ','):
            with self.subTest(bad=bad):
                assert_problem(self.patch_org(one, bad), 412, 'If-Match: %r' % bad)
        self.assertEqual(self.etag_of(one), tag, 'a refused PATCH changed the object')
        assert_status(self.patch_org(one, tag), 200, 'strong If-Match')

    def test_if_match_lists_and_star(self):
        one = self.new_organization()
        tag = self.etag_of(one)
        v = int(tag.strip('"'))
        r = self.patch_org(one, '"%d", "%d"' % (v + 7, v + 8))
        doc = assert_problem(r, 412, 'If-Match of other versions only')
        self.assertIn(tag.strip('"'), doc['detail'], 'the 412 does not tell the ETag')
        self.assertEqual(self.etag_of(one), tag)
        r = self.patch_org(one, '"%d", W/"x", %s' % (v + 7, tag))
        assert_status(r, 200, 'If-Match list holding the current ETag')
        tag2 = r.headers.get('etag')
        self.assertNotEqual(tag2, tag)
        self.assertEqual(tag2, self.etag_of(one))
        r = self.patch_org(one, '*')
        assert_status(r, 200, 'If-Match: *')
        self.assertNotEqual(r.headers.get('etag'), tag2)
        # the actions on objects take lists too
        assert_problem(self.patch_org(one, None), 428, 'no If-Match')

    def test_if_match_star_out_of_scope_is_404(self):
        other = self.scoped_operator()
        one = self.new_organization()  # in another region than the operator's
        tag = self.etag_of(one)
        for im in ('*', tag, '"x", ' + tag):
            with self.subTest(im=im):
                assert_problem(self.patch_org(one, im, token=other), 404,
                               'PATCH an out-of-scope organization, If-Match: ' + im)
        self.assertEqual(self.etag_of(one), tag)
        assert_problem(self.patch_org('/api/v1/organizations/999999999', '*'), 404,
                       'If-Match: * on a missing organization')

    # ------------------------------------------------------------ CORS

    def preflight(self, origin, method='GET', path=ME, req_headers='authorization'):
        h = {'Origin': origin, 'Access-Control-Request-Method': method}
        if req_headers:
            h['Access-Control-Request-Headers'] = req_headers
        return self.req('OPTIONS', path, headers=h)

    def test_cors_preflight_allowed(self):
        for origin in (APP, OTHER):
            with self.subTest(origin=origin):
                r = self.preflight(origin)
                self.assertIn(r.status, (200, 204), 'preflight from %s: %r' % (origin, r))
                self.assertEqual(r.headers.get('access-control-allow-origin'), origin, r)
                methods = r.headers.get('access-control-allow-methods', '').upper()
                self.assertIn('GET', [m.strip() for m in methods.split(',')], r)
                hdrs = r.headers.get('access-control-allow-headers', '').lower()
                self.assertIn('authorization', [h.strip() for h in hdrs.split(',')], r)
                self.assertNotEqual(r.headers.get('access-control-allow-origin'), '*', r)

    def test_cors_preflight_post_token(self):
        r = self.preflight(APP, 'POST', TOKEN, 'content-type')
        self.assertIn(r.status, (200, 204), 'preflight POST /auth/token: %r' % r)
        self.assertEqual(r.headers.get('access-control-allow-origin'), APP, r)
        methods = r.headers.get('access-control-allow-methods', '').upper()
        self.assertIn('POST', [m.strip() for m in methods.split(',')], r)
        hdrs = r.headers.get('access-control-allow-headers', '').lower()
        self.assertIn('content-type', [h.strip() for h in hdrs.split(',')], r)

    def test_cors_simple_get_allowed(self):
        r = self.req('GET', ME, token=self.tok, headers={'Origin': APP})
        assert_status(r, 200, 'GET /auth/me with Origin ' + APP)
        self.assertEqual(r.headers.get('access-control-allow-origin'), APP, r)

    def test_cors_errors_carry_acao(self):
        # a browser can read error bodies only when they carry ACAO too
        r = self.req('GET', ME, headers={'Origin': APP})
        assert_problem(r, 401, 'GET /auth/me without a token, Origin ' + APP)
        self.assertEqual(r.headers.get('access-control-allow-origin'), APP, r)

    def test_cors_vary_origin(self):
        r = self.req('GET', ME, token=self.tok, headers={'Origin': APP})
        vary = [v.strip().lower() for v in r.headers.get('vary', '').split(',')]
        self.assertIn('origin', vary, 'an Origin-dependent response lacks Vary: Origin: %r' % r)

    def test_cors_evil_origin(self):
        r = self.preflight(EVIL)
        self.assertNotEqual(r.status, 500, r)
        self.assertNotIn('access-control-allow-origin', r.headers, 'preflight from evil: %r' % r)
        r = self.req('GET', ME, token=self.tok, headers={'Origin': EVIL})
        assert_status(r, 200, 'GET /auth/me with Origin ' + EVIL)
        self.assertNotIn('access-control-allow-origin', r.headers, 'GET from evil: %r' % r)
        # prefixes and suffixes of an allowed origin are other origins
        for origin in (APP + '.evil.example', 'https://app.example:8443', 'http://app.example',
                       'null'):
            with self.subTest(origin=origin):
                r = self.req('GET', ME, token=self.tok, headers={'Origin': origin})
                self.assertNotIn('access-control-allow-origin', r.headers, r)

    def test_cors_no_origin_no_acao(self):
        r = self.req('GET', ME, token=self.tok)
        assert_status(r, 200)
        self.assertNotIn('access-control-allow-origin', r.headers, r)


if __name__ == '__main__':
    harness.main()
