import asyncio, time, tempfile, os, sys, psutil
from pathlib import Path
from webhook_accept import jobs_for
from webhook_common import FakeProcess, Serve, summary_ms, send_raw
fake = FakeProcess(20)
serve = Serve(fake, Path(tempfile.mkdtemp()), 4)
sp = psutil.Process(serve.proc.pid)
try:
    asyncio.run(send_raw(serve.url, jobs_for(20, 20, 1), 4))
    time.sleep(2)
    for c in (1, 8):
        jobs = jobs_for(600, 20, 1000*c)
        for label in ('new', 'replay'):
            s0=sp.cpu_times()
            lat, st, ins, cpu = asyncio.run(send_raw(serve.url, jobs, c))
            s1=sp.cpu_times()
            print(c, label, 'client ms/req', round(cpu/600*1e3,2), 'server ms/req', round((s1.user+s1.system-s0.user-s0.system)/600*1e3,2), summary_ms(lat), summary_ms(ins)['p99'], set(st))
            time.sleep(3)
finally:
    serve.stop(); fake.stop()
