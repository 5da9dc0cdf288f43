from kinerja_evidence.bootstrap import main

main()
