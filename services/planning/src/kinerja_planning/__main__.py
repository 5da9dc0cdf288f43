from kinerja_planning.bootstrap import main

main()
