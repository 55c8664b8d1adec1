#!/usr/bin/env python3
"""Runs a command and writes {wall_ms, code, maxrss_kb, peak_tree_rss_kb} as JSON to argv[1].

wall_ms          : wall time from spawn to exit (time.perf_counter).
maxrss_kb        : getrusage(RUSAGE_CHILDREN).ru_maxrss = the max RSS of the LARGEST SINGLE
                   process among all waited-for descendants (not a sum).
peak_tree_rss_kb : peak of the SUM of RSS of all processes in the command's session, sampled
                   every 50 ms from /proc (short-lived processes can be missed between samples).
own_hwm_kb       : the command's own process's peak RSS (VmHWM, the kernel's high-water mark),
                   read every 50 ms; for june-ts the node process alone, without helm/kubectl.
usage: measure.py OUT.json CMD ARGS...
"""
import json, os, resource, subprocess, sys, threading, time

out, cmd = sys.argv[1], sys.argv[2:]
page_kb = os.sysconf('SC_PAGE_SIZE') // 1024
t0 = time.perf_counter()
p = subprocess.Popen(cmd, start_new_session=True)
peak = 0
own_hwm = 0
done = threading.Event()


def sample():
    global peak, own_hwm
    while not done.is_set():
        try:
            with open(f'/proc/{p.pid}/status') as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        own_hwm = max(own_hwm, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        total = 0
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open(f'/proc/{d}/stat') as f:
                    s = f.read()
                fields = s[s.rindex(')') + 2:].split()
                # fields[3] = session id, fields[21] = rss (pages)
                if int(fields[3]) == p.pid:
                    total += int(fields[21]) * page_kb
            except (OSError, ValueError, IndexError):
                pass
        peak = max(peak, total)
        done.wait(0.05)


t = threading.Thread(target=sample, daemon=True)
t.start()
code = p.wait()
wall = (time.perf_counter() - t0) * 1000
done.set()
t.join()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, 'w') as f:
    json.dump({'wall_ms': wall, 'code': code, 'maxrss_kb': ru.ru_maxrss, 'peak_tree_rss_kb': peak, 'own_hwm_kb': own_hwm}, f)
