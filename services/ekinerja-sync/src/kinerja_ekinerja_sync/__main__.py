from kinerja_ekinerja_sync.bootstrap import main

main()
