# debug only (not committed)
#@ checks: dbg
#@ boot: cpu=default
. /tests/host/lib.sh
timeout -s TERM ${DBG_T:-60} /bin/tabi run --kernel /guest/vmlinuz --initrd /guest/initrd.gz --cmdline "console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 tabi.test=basic" --session /tmp/dbg.s --mem 256M --cpus 2 </dev/null 2>&1 | head -c 200000
echo "rc=$?"
echo "CHECK dbg PASS"
