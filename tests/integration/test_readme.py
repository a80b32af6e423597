"""
test_readme.py - every shell example of README.md runs, in order, against a
fresh `make run`-style stack with the demo data, and answers what the README
shows.

The stack is what scripts/run.sh builds, on a throwaway cluster: `effmond
migrate`, the demo admin (`create-user --login admin`, its password in
var/admin-password), `effmond load-demo` (its output in var/demo-users.txt),
then `effmond serve`. The examples run in a scratch directory that holds that
var/, so `$(cat var/admin-password)` works as it does after `make run`.

The convention (README.md, "The examples are tests", says the same):

- Every ```sh block of README.md runs, in order, in ONE bash process
  (`set -eo pipefail`): variables set by a block (TOKEN, API, AUTH, JSON,
  HEAD_TOKEN, ETAG, ...) are there in the later ones. A command that fails
  (a non-zero exit, e.g. a login whose answer has no access_token) fails the
  test, naming the block and its line.
- A block that is not an API example (make run, make test, configuration)
  says so in its fence: ```sh norun. Such blocks are never run; an unmarked
  block that cannot run fails the test.
- The only substitution is the address: 127.0.0.1:8080 becomes the test
  daemon's. Anything else a user must replace is a shell variable set by an
  earlier block or read from var/ ($TOKEN, $HEAD_TOKEN, $ETAG, ...): the
  README never holds a placeholder like `…` inside a command.
- The expected answer of a curl command is a comment line after it:
      # → 200 {"status":"approved", "total": 71.4, ...}
      # → 201 Location: /api/v1/roadmaps/4
      # → 304
  The number is the HTTP status (checked always). What follows is either a
  JSON value whose shown fields are checked (objects: every shown key, with
  its value checked the same way; `...` means "more fields" or "more
  items"; arrays: the shown items are the first ones, and without `...` the
  array has exactly them), or a header `Name: value` (the value checked
  exactly). The line belongs to the last curl command above it in the block
  (each `curl` word at the start of a command, after `$(` or after `|`
  counts, in order). Continuation lines of the comment start with `#   `
  and are appended to it. A command without such a line is run, not checked.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

README = os.path.join(harness.SOURCE_ROOT, 'README.md')

FENCE_RE = re.compile(r'^```(\S*)(.*)$')
EXPECT_RE = re.compile(r'^\s*# → (\d{3})(?:\s+(.*))?$')
CURL_RE = re.compile(r'(?:^\s*|\$\(\s*|\|\s*)curl\s')

# Installed before the first block: every curl call records its headers and
# body under $README_LOG as <call number>.h / .b, numbered from 1 in order.
# Installed before the first block: every curl call records its headers and
# body under $README_LOG as <call number>.h / .b, numbered from 1 in order. The
# counter is a file: a curl inside $(...) runs in a subshell.
PRELUDE = r'''
set -eo pipefail
echo 0 > "$README_LOG/count"
curl() {
  local n
  n=$(( $(cat "$README_LOG/count") + 1 ))
  echo "$n" > "$README_LOG/count"
  command curl -D "$README_LOG/$n.h" "$@" | tee "$README_LOG/$n.b"
}
__block() { __b=$1; cp "$README_LOG/count" "$README_LOG/block$__b.start"; }
trap 'echo "README block $__b failed at its script line $LINENO" >&2' ERR
'''


def readme_blocks(text):
    """[(first line number, info, [lines])] of every fenced block."""
    blocks, cur = [], None
    for no, line in enumerate(text.split('\n'), 1):
        m = FENCE_RE.match(line)
        if cur is None and m:
            cur = (no + 1, (m.group(1), m.group(2).strip()), [])
        elif cur is not None and line.startswith('```'):
            blocks.append(cur)
            cur = None
        elif cur is not None:
            cur[2].append(line)
    if cur is not None:
        raise AssertionError('README.md: the block at line %d is never closed' % cur[0])
    return blocks


def expectations(lines):
    """[(index of the curl call in the block, from 1; status; shown text; README line)]."""
    out, calls, last = [], 0, None
    for k, line in enumerate(lines):
        m = EXPECT_RE.match(line)
        if m:
            if calls == 0:
                raise AssertionError('an expectation before any curl command: %r' % line)
            last = [calls, int(m.group(1)), (m.group(2) or '').strip(), k]
            out.append(last)
            continue
        if last is not None and line.startswith('#   ') and last[3] == k - 1:
            last[2] += ' ' + line[4:].strip()
            last[3] = k
            continue
        if not line.lstrip().startswith('#'):
            calls += len(CURL_RE.findall(line))
    return [(c, s, t, k) for c, s, t, k in out]


def parse_shown(text):
    """The shown JSON, each `...` (outside strings) turned into the MORE marker:
    a key "MORE": null inside an object, an item "MORE" inside an array or alone."""
    out, stack, i, in_str = [], [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == '\\':
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith('...', i):
            out.append('"\\u0000more": null' if stack and stack[-1] == '{' else '"\\u0000more"')
            i += 2
        else:
            if c in '{[':
                stack.append(c)
            elif c in '}]' and stack:
                stack.pop()
            out.append(c)
        i += 1
    return json.loads(''.join(out))


MORE = '\u0000more'


def match(shown, actual, path='$'):
    """None when actual has what shown shows, else where it differs."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return '%s: expected an object, got %r' % (path, actual)
        for k, v in shown.items():
            if k == MORE:
                continue
            if k not in actual:
                return '%s.%s: missing' % (path, k)
            err = match(v, actual[k], path + '.' + k)
            if err:
                return err
        return None
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return '%s: expected an array, got %r' % (path, actual)
        items = [x for x in shown if x != MORE]
        if len(items) == len(shown) and len(actual) != len(items):
            return '%s: %d items, expected %d' % (path, len(actual), len(items))
        if len(actual) < len(items):
            return '%s: %d items, expected at least %d' % (path, len(actual), len(items))
        for i, v in enumerate(items):
            err = match(v, actual[i], '%s[%d]' % (path, i))
            if err:
                return err
        return None
    if shown == MORE:
        return None
    if isinstance(shown, float) or isinstance(actual, float):
        if isinstance(actual, (int, float)) and not isinstance(actual, bool) and \
                isinstance(shown, (int, float)) and abs(shown - actual) < 1e-9:
            return None
    if shown != actual or type(shown) is not type(actual):
        return '%s: %r, expected %r' % (path, actual, shown)
    return None


def split_head(data):
    """(status, headers, body) of one recorded call; the last response head counts."""
    heads = [h for h in re.split(r'\r?\n\r?\n', data) if h.startswith('HTTP/')]
    if not heads:
        return None, {}, None
    lines = heads[-1].split('\r\n') if '\r\n' in heads[-1] else heads[-1].split('\n')
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, None


class ReadmeExamples(harness.DaemonTestCase):
    """The README's shell examples against the demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        cls.work = tempfile.mkdtemp(prefix='effmon-readme-', dir='/tmp')
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        var = os.path.join(cls.work, 'var')
        os.mkdir(var)
        pw = harness.random_secret(18)
        d.create_user('admin', 'admin', pw)
        with open(os.path.join(var, 'admin-password'), 'w') as f:
            f.write(pw + '\n')
        p = d.run('load-demo', timeout=300)
        if p.returncode != 0:
            raise RuntimeError('load-demo failed: %s%s' % (p.stdout, p.stderr))
        with open(os.path.join(var, 'demo-users.txt'), 'w') as f:
            f.write(p.stdout)
        with open(README, encoding='utf-8') as f:
            cls.blocks = readme_blocks(f.read())

    def runnable(self):
        return [(no, lines) for no, (lang, info), lines in self.blocks
                if lang == 'sh' and 'norun' not in info.split()]

    def test_fences_are_known(self):
        """Every ```sh block either runs or says norun; no other word after sh."""
        for no, (lang, info), lines in self.blocks:
            if lang == 'sh':
                self.assertIn(info, ('', 'norun'), 'README.md line %d: ```sh %s' % (no - 1, info))
        self.assertGreater(len(self.runnable()), 5)

    def test_examples(self):
        """Run every block in order in one bash; check each shown answer."""
        port = self.daemon.port
        log = os.path.join(self.work, 'log')
        os.mkdir(log)
        script = [PRELUDE]
        plan = []
        for b, (no, lines) in enumerate(self.runnable()):
            body = '\n'.join(lines).replace('127.0.0.1:8080', '127.0.0.1:%d' % port)
            script.append('__block %d\n%s\n' % (b, body))
            plan.append((b, no, expectations(lines)))
        env = dict(os.environ, README_LOG=log, LC_ALL='C.UTF-8')
        p = subprocess.run(['bash', '-c', '\n'.join(script)], cwd=self.work, env=env,
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(p.returncode, 0, 'the README examples stopped:\n%s\n%s'
                         % (p.stderr[-3000:], p.stdout[-2000:]))
        checked = 0
        for b, no, exps in plan:
            with open(os.path.join(log, 'block%d.start' % b)) as f:
                start = int(f.read())
            for call, status, shown, k in exps:
                where = 'README.md line %d' % (no + k)
                n = start + call
                with open(os.path.join(log, '%d.h' % n), encoding='utf-8',
                          errors='replace') as f:
                    got, hdrs, _ = split_head(f.read())
                with open(os.path.join(log, '%d.b' % n), 'rb') as f:
                    raw = f.read().decode('utf-8', 'replace')
                self.assertEqual(got, status, '%s: status %s, expected %d; body %s'
                                 % (where, got, status, raw[:400]))
                checked += 1
                if not shown:
                    continue
                hm = re.match(r'^([A-Za-z][A-Za-z0-9-]*): (.*)$', shown)
                if hm:
                    self.assertEqual(hdrs.get(hm.group(1).lower()), hm.group(2).strip(),
                                     '%s: header %s' % (where, hm.group(1)))
                    continue
                if raw.startswith('HTTP/'):  # curl -i: the head precedes the body
                    raw = re.split(r'\r?\n\r?\n', raw, maxsplit=1)[-1]
                try:
                    actual = json.loads(raw)
                except ValueError:
                    self.fail('%s: the answer is not JSON: %r' % (where, raw[:300]))
                try:
                    want = parse_shown(shown)
                except ValueError as e:
                    self.fail('%s: the shown answer is not JSON with ...: %s (%r)'
                              % (where, e, shown))
                err = match(want, actual)
                self.assertIsNone(err, '%s: %s; answer %s' % (where, err, raw[:600]))
        self.assertGreater(checked, 20)


class MatcherSelfTest(unittest.TestCase):
    """The matcher fails what it should (no daemon)."""

    def test_match(self):
        self.assertIsNone(match(parse_shown('{"a": 1, ...}'), {'a': 1, 'b': 2}))
        self.assertIsNotNone(match(parse_shown('{"a": 1, ...}'), {'a': 2}))
        self.assertIsNotNone(match(parse_shown('{"a": 1}'), {'b': 1}))
        self.assertIsNone(match(parse_shown('{"items": [{"id": 3}, ...]}'),
                                {'items': [{'id': 3}, {'id': 4}]}))
        self.assertIsNotNone(match(parse_shown('{"items": [{"id": 3}]}'),
                                   {'items': [{'id': 3}, {'id': 4}]}))
        self.assertIsNotNone(match(parse_shown('{"n": 1}'), {'n': True}))
        self.assertIsNone(match(parse_shown('{"t": 71.4}'), {'t': 71.4}))

    def test_expectations(self):
        lines = ['X=$(curl -s a | python3 -c x)', 'curl -s b \\', '  -d 1',
                 '# → 201 {"id": 1,', '#   "x": 2}', 'curl c']
        self.assertEqual(expectations(lines), [(2, 201, '{"id": 1, "x": 2}', 4)])


if __name__ == '__main__':
    harness.main()
