#!/usr/bin/python3
"""
make_corpus.py - writes the seed corpora of the fuzz targets into corpus/<target>/,
from the fixtures of the integration tests: bodies of tests/integration/registry_fixtures.py
(valid and broken), the routes of src/routes.c, list query strings, tokens signed with the
unit tests' secret, CSV samples. Run it again after changing it; `make fuzz` keeps the inputs
it finds in build-fuzz/corpus/, not here. Stdlib only.

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import base64
import hashlib
import hmac
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SECRET = b'0123456789abcdef0123456789abcdef-test'  # as tests/unit/test_token.c
NOW = 1800000000                                  # the targets' fixed clock


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def inn10(prefix9):
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return prefix9 + str(sum(int(c) * w for c, w in zip(prefix9, weights)) % 11 % 10)


# --- fuzz_validate: first byte i creates, 0x80 | i updates resource i (its RESOURCES order) -
RESOURCES = ['regions', 'municipalities', 'organizations', 'directions', 'competencies',
             'managers', 'reserve', 'users', 'campaigns', 'indicators', 'submissions',
             'roadmaps', 'milestones']
BODIES = {
    'regions': (
        [{'code': '66', 'name': 'Регион 1'}],
        [{'code': '6a', 'name': ''}, {'code': 66}, {'name': 'x', 'extra': 1}, {'code': None},
         {'code': '6\u0000', 'name': 'a\u0000b'}],
        [{'name': 'Свердловская область'}, {'code': '01'}],
    ),
    'municipalities': (
        [{'region_id': 1, 'name': 'Муниципалитет 1', 'oktmo': '65701000'},
         {'region_id': 9223372036854775807, 'name': 'М', 'oktmo': '65701000001'}],
        [{'region_id': 0, 'name': 'М', 'oktmo': '123'}, {'region_id': '1'},
         {'region_id': -1, 'name': 'М', 'oktmo': '6570100000a'}],
        [{'name': 'Екатеринбург', 'oktmo': '65701000'}],
    ),
    'organizations': (
        [{'municipality_id': 1, 'full_name': 'МБОУ «Средняя школа №1»', 'short_name': 'Школа №1',
          'inn': inn10('660000001'), 'kind': 'school', 'settlement': 'urban', 'students': 301}],
        [{'municipality_id': 1, 'full_name': 'x', 'short_name': 'x', 'inn': '6600000010',
          'kind': 'university', 'settlement': 'town', 'students': 100001},
         {'inn': 6600000010, 'students': 1.5, 'status': 'archived'}],
        [{'status': 'archived'}, {'students': 0, 'kind': 'preschool', 'settlement': 'rural'},
         {'inn': inn10('770000002')}],
    ),
    'directions': ([{}], [{'code': 'x'}], [{}]),
    'competencies': (
        [{'code': 'comp_1', 'name': 'Компетенция', 'max_score': 10},
         {'code': 'ab', 'name': 'К', 'description': None, 'max_score': 1000}],
        [{'code': '1abc', 'name': 'К', 'max_score': 1001}, {'code': 'Comp', 'max_score': 10.5},
         {'code': 'a' * 65, 'name': '', 'max_score': 0}],
        [{'description': 'Описание', 'max_score': 5}],
    ),
    'managers': (
        [{'municipality_id': 1, 'full_name': 'Руководитель 1', 'position': 'director',
          'email': 'head1@school.example', 'phone': '+7 (343) 123-45-67',
          'qualification_date': '2024-02-29'}],
        [{'municipality_id': 1, 'full_name': 'Р', 'email': 'a@b', 'phone': 'abcde',
          'qualification_date': '2023-02-29'},
         {'full_name': 'Р', 'municipality_id': 1, 'qualification_date': '2024-13-01',
          'email': 'a b@c.d'}],
        [{'email': None, 'phone': None}, {'position': 'acting_director'},
         {'qualification_date': '1899-12-31'}],
    ),
    'reserve': (
        [{'municipality_id': 1, 'full_name': 'Кандидат 1', 'target_position': 'директор школы'},
         {'municipality_id': 2, 'full_name': 'К', 'target_position': 'завуч',
          'training_programme': None, 'email': 'x@y.ru'}],
        [{'municipality_id': 1, 'full_name': '', 'target_position': 'x', 'email': '@y.ru'}],
        [{'training_programme': 'Программа', 'email': 'x@@y.ru'}],
    ),
    'users': ([{}], [{'login': 'api1', 'password': 'registry-secret-1', 'role': 'head'}], [{}]),
    'campaigns': ([{}], [{'name': 'x'}], [{}]),
    'indicators': ([{}], [{'code': 'E1'}], [{}]),
    'submissions': ([{}], [{'values': []}], [{}]),
    'roadmaps': (
        [{'level': 'municipal', 'municipality_id': 1, 'title': 'Дорожная карта',
          'description': None, 'period_from': '2024-09-01', 'period_to': '2025-08-31'}],
        [{'level': 'regional', 'municipality_id': 1, 'title': '', 'period_from': '2025-01-01',
          'period_to': '2024-01-01'}, {'level': 'organization', 'title': 'x',
                                       'period_from': '2024-02-30', 'period_to': 'tomorrow'}],
        [{'period_from': '2025-01-01', 'period_to': '2024-12-31'}, {'title': 'Новая'}],
    ),
    'milestones': ([{}], [{'title': 'x'}], [{}]),
}


def dump(body):
    return json.dumps(body, ensure_ascii=False).encode()


for i, res in enumerate(RESOURCES):
    valid, invalid, updates = BODIES[res]
    for k, b in enumerate(valid):
        write('validate', '%s-create-valid-%d' % (res, k), bytes([i]) + dump(b))
    for k, b in enumerate(invalid):
        write('validate', '%s-create-invalid-%d' % (res, k), bytes([i]) + dump(b))
    for k, b in enumerate(updates):
        write('validate', '%s-update-%d' % (res, k), bytes([0x80 | i]) + dump(b))
for name, text in [('not-object', b'\0[1,2]'), ('scalar', b'\5"x"'),
                   ('duplicate', b'\0{"a":1,"a":2}'),
                   ('nested', b'\2{"full_name":{"a":[1,{"b":null}]}}'), ('bad-json', b'\3{"a":'),
                   ('escaped', b'\0{"code":"\\u0036\\u0036","name":"\\ud83d\\ude00"}')]:
    write('validate', name, text)

# --- fuzz_router: "METHOD\npath" -----------------------------------------------------------
with open(os.path.join(ROOT, 'src', 'routes.c'), encoding='utf-8') as f:
    routes = re.findall(r'\{"([A-Z]+)", "(/[^"]*)"', f.read())
for k, (method, pattern) in enumerate(routes):
    write('router', 'route-%02d' % k, '%s\n%s' % (method, pattern.replace('{id}', '42')))
# Broken ids on a few patterns: one id at the end, one in the middle.
id_patterns = sorted({p for _, p in routes if '{id}' in p}, key=lambda p: (p.count('/'), p))
for pattern in id_patterns[:2] + [p for p in id_patterns if not p.endswith('{id}')][:2]:
    slug = re.sub(r'[^a-z]+', '-', pattern.replace('/api/v1/', '')).strip('-')
    for tag, ident in [('max', '9223372036854775807'), ('over', '9223372036854775808'),
                       ('zero', '0'), ('lead0', '007'), ('exp', '1e3'), ('sign', '+7'),
                       ('empty', '')]:
        write('router', '%s-%s' % (slug, tag), 'GET\n' + pattern.replace('{id}', ident))
for name, text in [('head', 'HEAD\n/api/v1/regions'), ('options', 'OPTIONS\n/api/v1/regions/1'),
                   ('delete', 'DELETE\n/api/v1/regions/1'), ('trailing', 'GET\n/api/v1/regions/'),
                   ('double', 'GET\n/api/v1//regions'), ('nomethod', '/healthz'),
                   ('unknown', 'GET\n/api/v2/regions'), ('root', 'GET\n/')]:
    write('router', name, text)
# The same input is an Accept header for negotiate_accept.
for name, text in [('accept-q', 'text/csv;q=0.9, application/json'),
                   ('accept-wild', 'text/*;q=0.2, */*;q=0.1, application/json;q=0'),
                   ('accept-xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'),
                   ('accept-params', 'text/csv ; charset=utf-8 ; q=0.50 ;x=y,,;'),
                   ('accept-badq', 'application/json;q=1.5, */*;q=abc')]:
    write('router', name, text)

# --- fuzz_query: the query string of a list request ----------------------------------------


def cursor(sort, ident, key=''):
    return base64.urlsafe_b64encode(('%s\n%s\n%s' % (sort, ident, key)).encode()).decode().rstrip('=')


QUERIES = {
    'limit': 'limit=10', 'limit-min': 'limit=1', 'limit-max': 'limit=500', 'limit-0': 'limit=0',
    'limit-over': 'limit=501', 'limit-text': 'limit=abc', 'limit-space': 'limit=+5',
    'limit-huge': 'limit=99999999999999999999', 'sort-name': 'sort=name', 'sort-bad': 'sort=code',
    'cursor-id': 'limit=2&cursor=' + cursor('id', 42),
    'cursor-name': 'sort=name&cursor=' + cursor('name', 7, 'Школа №5'),
    'cursor-mismatch': 'cursor=' + cursor('name', 7, 'x'),
    'cursor-badid': 'cursor=' + cursor('id', '007'),
    'cursor-short': 'cursor=' + base64.urlsafe_b64encode(b'id\n5').decode().rstrip('='),
    'cursor-padded': 'cursor=aWQKNQo%3D', 'cursor-garbage': 'cursor=%%%',
    'org-filters': 'region_id=1&municipality_id=2&kind=school&settlement=urban&status=active&inn='
                   + inn10('660000001'),
    'org-bad-filters': 'region_id=0&municipality_id=-1&kind=college&status=&inn=',
    'user-filters': 'role=head&active=true&organization_id=9223372036854775807',
    'user-bad-filters': 'role=root&active=yes&organization_id=9223372036854775808',
    'reserve-status': 'status=included&sort=name&limit=3',
    'monitoring-filters': 'campaign_id=1&organization_id=2&manager_id=3&year=2024&status=draft'
                          '&direction=D1&overdue=true&roadmap_id=4&level=municipal',
    'code': 'code=comp_1', 'q': 'q=%D0%A8%D0%BA%D0%BE%D0%BB%D0%B0+%E2%84%961',
    'repeat': 'limit=5&limit=6&sort=id&sort=name', 'noval': 'limit&sort=&cursor',
    'encoded-nul': 'limit=1%002&region_id=%31', 'empty': '',
}
for name, text in QUERIES.items():
    write('query', name, text)

# --- fuzz_token: '0' + header value, or '1' + header JSON "\n" claims JSON (signed) --------


def b64(b):
    return base64.urlsafe_b64encode(b).decode().rstrip('=')


def token(header, claims, key=SECRET, digest=hashlib.sha256):
    signing = b64(json.dumps(header).encode()) + '.' + b64(json.dumps(claims).encode())
    return signing + '.' + b64(hmac.new(key, signing.encode(), digest).digest())


def claims(**over):
    c = {'sub': '7', 'role': 'regional_operator', 'region_id': 66, 'iss': 'effmon',
         'aud': 'effmon', 'iat': NOW - 10, 'exp': NOW + 600, 'jti': '0123456789abcdef'}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


HS256 = {'alg': 'HS256', 'typ': 'JWT'}
TOKENS = {
    'valid': 'Bearer ' + token(HS256, claims()),
    'valid-lower': 'bearer  ' + token(HS256, claims(role='admin', region_id=None)),
    'valid-aud-list': 'Bearer ' + token(HS256, claims(aud=['other', 'effmon'])),
    'head-scope': 'Bearer ' + token(HS256, claims(role='head', municipality_id=3,
                                                  organization_id=9, region_id=None)),
    'expired': 'Bearer ' + token(HS256, claims(exp=NOW - 3600)),
    'wrong-secret': 'Bearer ' + token(HS256, claims(), key=b'x' * 32),
    'hs512': 'Bearer ' + token({'alg': 'HS512'}, claims(), digest=hashlib.sha512),
    'alg-none': 'Bearer ' + b64(b'{"alg":"none"}') + '.' + b64(json.dumps(claims()).encode()) + '.',
    'no-dots': 'Bearer abc', 'basic': 'Basic dXNlcjpwYXNz', 'empty': '', 'scheme-only': 'Bearer ',
    'padded': 'Bearer ' + token(HS256, claims()) + '=',
}
for name, text in TOKENS.items():
    write('token', 'raw-' + name, '0' + text)
SIGNED = {
    'valid': (HS256, claims()),
    'nbf-future': (HS256, claims(nbf=NOW + 3600)),
    'iat-future': (HS256, claims(iat=NOW + 3600)),
    'exp-string': (HS256, claims(exp=str(NOW + 600))),
    'sub-int': (HS256, claims(sub=7)),
    'sub-lead0': (HS256, claims(sub='07')),
    'sub-huge': (HS256, claims(sub='99999999999999999999')),
    'role-unknown': (HS256, claims(role='root')),
    'scope-string': (HS256, claims(region_id='66')),
    'scope-negative': (HS256, claims(organization_id=-5)),
    'iss-wrong': (HS256, claims(iss='other')),
    'aud-missing': (HS256, claims(aud=None)),
    'alg-missing': ({'typ': 'JWT'}, claims()),
}
for name, (h, c) in SIGNED.items():
    write('token', 'signed-' + name, '1' + json.dumps(h) + '\n' + json.dumps(c))
write('token', 'signed-not-object', '1' + json.dumps(HS256) + '\n[1]')
write('token', 'signed-duplicate', '1' + json.dumps(HS256) + '\n{"sub":"7","sub":"8"}')

# --- fuzz_csv: first byte 0 detects the delimiter, 1 is ',', 2 is ';'; the rest is the file --
HEADER = 'organization_inn,indicator_code,value\n'
CSVS = {
    'good': HEADER + '%s,E1,3.5\n%s,E2,10\n' % (inn10('520000000'), inn10('520000001')),
    'semicolon-bom-crlf': '\ufefforganization_inn;indicator_code;value\r\n%s;E1;3,5\r\n\r\n'
                          % inn10('520000000'),
    'quoted': 'x,"he said ""hi""","a,b"\n"",""""\n',
    'multiline': 'h1,h2\n1,"line one\r\nline two\nline three"\n2,x\n',
    'ragged': 'a,b,c\n1,2\n1,2,3,4,5,6,7,8,9,10\n',
    'open-quote': 'a,b\n1,"open\n2,3\n',
    'after-quote': '"ab"c,d\n1,2\n',
    'inner-quote': '1,say "x" now\n',
    'bad-utf8': 'a,b\n1,\xc3\x28\n\u0414\u0430,2\n',
    'nul': 'a,b\n1,a\0b\n',
    'lone-cr': 'a,b\r\n\n\n1,2\r3,4',
    'cyrillic': 'инн;код;значение\n%s;Э1;"7,25"\n' % inn10('660000001'),
    'empty-lines': '\r\n\n', 'trailing-delim': 'a,\n,,',
}
for k, (name, text) in enumerate(sorted(CSVS.items())):
    data = text.encode('utf-8', 'surrogateescape') if name != 'bad-utf8' else \
        b'a,b\n1,\xc3\x28\n\xd0\x94\xd0\xb0,2\n'
    write('csv', name, bytes([k % 3]) + data)
