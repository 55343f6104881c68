"""Prints libhangar's figures against the original Hangar's and the DESIGN §7 targets."""
import json
import sys

ours = json.load(open(sys.argv[1]))
theirs = json.load(open(sys.argv[2]))
f = ours["figures"]


def row(name, mine, other, target=None, unit=""):
    ratio = mine / other if other else float("nan")
    verdict = ""
    if target is not None:
        verdict = "meets" if ratio >= target else "BELOW"
        verdict += f" target {target:g}x"
    print(f"  {name:<44} {mine:>12,.0f} {other:>12,.0f} {unit:<10} {ratio:>8.1f}x  {verdict}")


print(f"\nseed workload, {ours['data']} data, {ours['records']:,} records (ours vs the original Hangar 0.5.2)")
print(f"  {'':<44} {'libhangar':>12} {'hangar-py':>12} {'':<10} {'ratio':>9}")
row("per-sample insert, bulk vs context manager", f["insert_bulk_records_per_s"], theirs["insert_cm_records_per_s"], 100, "records/s")
row("per-sample insert, plain vs plain", f["insert_plain_records_per_s"], theirs["insert_plain_records_per_s"], 100, "records/s")
row("per-sample insert, plain vs context manager", f["insert_plain_records_per_s"], theirs["insert_cm_records_per_s"], None, "records/s")
row("random read, zero-copy vs context manager", f["random_read_view_per_s"], theirs["random_read_cm_per_s"], 100, "reads/s")
row("random read, owned copy vs context manager", f["random_read_owned_per_s"], theirs["random_read_cm_per_s"], 100, "reads/s")
row("full scan", f["full_scan_per_s"], theirs["full_scan_per_s"], None, "samples/s")
row("commit of 100,000 staged records (1/s)", 1 / f["commit_s"], 1 / theirs["commit_s"], None, "commits/s")
print(f"  {'bulk insert from one buffer, committed':<44} {f['bulk_buffer_time_over_limit']:>12.2f}x the physical limit's time (target <= 2x)")
raw = f["raw_bytes"]
print(f"  {'size on disk / raw bytes':<44} {f['disk_over_raw']:>12.3f} {theirs['disk_bytes'] / raw:>12.3f}"
      f"   (target <= 1.1 for incompressible data)")
