"""Bad input, each case a user found: a one-line error naming the option, key or
value, exit 2 for usage and 1 for a failed operation, checked before any work,
nothing left behind; objects refuse use after close() or hot_remove (ENODEV)."""

from __future__ import annotations

import errno
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from swaplab import PAGE_SIZE, System
from swaplab.kernel.swapin import swap_areas
from swaplab.workload.scenario import load_scenario, parse_scenario


def swaplab(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swaplab.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def one_line(r: subprocess.CompletedProcess) -> str:
    """The error: stderr's last line; no traceback anywhere."""
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["bench", "--seed", "-1"], 2, "--seed: '-1': a seed is 0 to 2**63-1"),
    (["zramctl", "--seed", "-1", "--fill", "3"], 2, "a seed is 0 to 2**63-1"),
    (["calibrate", "--seed", "-1"], 2, "a seed is 0 to 2**63-1"),
    (["zramctl", "--fill", "-5"], 2, "--fill: '-5' must be 0 or more"),
    (["zramctl", "-o", ""], 2, "-o '' names no column"),
    (["zramctl", "--fill", "100000000", "-s", "1T"], 2, "more than this machine has available"),
    (["zramctl", "-s", "100T"], 2, "no memory for the table"),
    (["bench", "--pages", "1000000000"], 2, "--pages 1000000000: the run needs about"),
    (["bench", "--design", "zram/swap_ops", "--design", "zram/swap_ops"], 2,
     "--design 'zram/swap_ops' given twice"),
    (["bench", "--algo", "bogus"], 2, "--algo 'bogus': not an algorithm"),
    (["calibrate", "-a", "bogus"], 2, "-a 'bogus': not an algorithm swaplab has"),
    (["calibrate", "-a", "842"], 2, "-a '842': not an algorithm swaplab has"),
    (["calibrate", "--pages", "100000000"], 2, "the run needs about"),
])
def test_command_line_errors(tmp_path, argv, code, needle):
    r = swaplab(*argv, cwd=str(tmp_path))
    assert r.returncode == code, r.stderr
    assert needle in " ".join(r.stderr.split()), r.stderr
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []  # no output folder, no files: nothing was run


def test_run_refuses_before_running(tmp_path):
    good = tmp_path / "s.toml"
    good.write_text('[system]\nmemory = "16M"\n[[process]]\nname = "a"\nsize = "4M"\n')
    r = swaplab("run", str(tmp_path))
    assert r.returncode == 2 and "is a folder, not a scenario file" in one_line(r)
    r = swaplab("run", str(good), "--out", str(tmp_path / "missing" / "r.json"))
    assert r.returncode == 2 and "no folder" in one_line(r)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\x00\xff\xfe\x80 not text")
    r = swaplab("run", str(binary))
    assert r.returncode == 2 and "not a TOML text file" in one_line(r)
    big = tmp_path / "big.toml"
    big.write_text('[system]\nmemory = "16T"\n[[process]]\nname = "a"\nsize = "4M"\n')
    r = swaplab("run", str(big))
    assert r.returncode == 2 and "[system] memory" in one_line(r)


def test_compare_on_malformed_reports(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"results": [1, 2]}))
    b.write_text(json.dumps({"results": [{"design": None}]}))
    r = swaplab("compare", str(a), str(b))
    assert r.returncode == 2 and "not both well-formed swaplab reports" in one_line(r)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_ctrl_c_ends_with_130_and_one_line(tmp_path):
    scratch = set(glob.glob(f"{tempfile.gettempdir()}/swaplab-bench-*"))
    p = subprocess.Popen([sys.executable, "-m", "swaplab.cli", "bench", "--design",
                          "zram/swap_ops", "--pages", "8192", "--repeat", "20", "--corpus",
                          "sample", "--out", str(tmp_path)], stderr=subprocess.PIPE, text=True,
                         # a shell's background job inherits SIGINT ignored: as at a terminal
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)  # well inside the run
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "swaplab: interrupted"
    assert "Traceback" not in err
    assert not (tmp_path / "bench.json").exists()
    assert set(glob.glob(f"{tempfile.gettempdir()}/swaplab-bench-*")) <= scratch  # removed


# --- the library: what the CLI's checks rest on --------------------------------------------

def test_system_memory_is_whole_pages_and_what_the_host_has():
    with pytest.raises(OSError, match="4097 is not a whole number of 4096-byte pages") as e:
        System(4097)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError, match="more than this host has available") as e:
        System("16T")
    assert e.value.errno == errno.ENOMEM


def test_create_mm_needs_a_page():
    with System("16M") as s:
        for n in (-1, 0):
            with pytest.raises(OSError, match=f"at least one page, not {n}") as e:
                s.create_mm(n)
            assert e.value.errno == errno.EINVAL


def test_closed_system_and_removed_device_refuse_with_enodev():
    s = System("16M")
    ctl = s.load_zram(num_devices=2)
    z = ctl[1]
    ctl.hot_remove(1)
    page = np.zeros(PAGE_SIZE, dtype=np.uint8)
    for use in (lambda: z.attr["disksize"], lambda: z.attr.__setitem__("disksize", "1M"),
                lambda: z.write_page(page, 0), lambda: z.read_page(page, 0),
                lambda: z.read_pages(page.reshape(1, -1), 0)):
        with pytest.raises(OSError, match="zram1 was removed") as e:
            use()
        assert e.value.errno == errno.ENODEV
    s.close()
    s.close()  # twice: nothing more
    for use in (lambda: s.create_mm(4), lambda: s.load_zram(), lambda: s.add_ramdisk("1M"),
                lambda: s.create_cgroup("x")):
        with pytest.raises(OSError, match="the System is closed") as e:
            use()
        assert e.value.errno == errno.ENODEV


def test_load_zram_with_negative_devices():
    with System("16M") as s, pytest.raises(OSError, match="num_devices -1 is negative") as e:
        s.load_zram(num_devices=-1)
    assert e.value.errno == errno.EINVAL


@pytest.mark.parametrize(("algo", "params", "needle"), [
    ("zstd", "level=999", "zstd does not take level 999"),
    ("deflate", "deflate.winbits=99", "deflate does not take winbits 99"),
    ("deflate", "level=99", "deflate does not take level 99"),
])
def test_algorithm_params_refused_when_written(algo, params, needle):
    with System("16M") as s:
        z = s.load_zram()[0]
        z.attr["comp_algorithm"] = algo
        with pytest.raises(OSError, match=needle) as e:
            z.attr["algorithm_params"] = params
        assert e.value.errno == errno.EINVAL
        z.attr["disksize"] = "1M"  # the refused parameters were not kept
        assert z.write_page(np.arange(PAGE_SIZE, dtype=np.uint8), 0) == 0


def test_scenario_sizes_and_settings(tmp_path):
    proc = {"name": "a", "size": "5000"}
    sc = parse_scenario({"process": [proc]}, "s.toml")
    assert sc.process[0].nr_pages == 2  # rounded up to pages, as mmap does
    for data, needle in (
        ({"system": {"memory": "4194305"}, "process": [proc]}, "not a whole number of"),
        ({"swap": [{"type": "ramdisk", "size": "8M", "algorithm": "zstd"}],
          "process": [proc]}, "algorithm is a zram setting"),
        ({"swap": [{"type": "zram", "size": "8M", "algorithm": "bogus"}],
          "process": [proc]}, "'bogus' is not an algorithm"),
        ({"zswap": {"compressor": "bogus"}, "process": [proc]}, "'bogus' is not an algorithm"),
    ):
        with pytest.raises(OSError, match=needle) as e:
            parse_scenario(data, "s.toml")
        assert e.value.errno == errno.EINVAL
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(OSError, match="not a TOML text file"):
        load_scenario(binary)


def test_no_swap_area_left_by_a_refused_command(tmp_path):
    before = set(swap_areas())
    swaplab("calibrate", "-a", "bogus")
    assert set(swap_areas()) == before


def test_ctrl_c_waits_for_a_safe_point_unless_pressed_twice():
    from swaplab.interrupt import deferred, safe_point

    # a suite started in the background inherits SIGINT ignored (and deferred()
    # then rightly changes nothing): Python's own handler, as in a terminal
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler ran: only a flag is set
            reached = True
            safe_point()  # raised here
            reached = False
        assert reached
        with pytest.raises(KeyboardInterrupt), deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # twice: at once
            time.sleep(0.05)
            pytest.fail("the second Ctrl-C did not raise")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
