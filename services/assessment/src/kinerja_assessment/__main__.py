from kinerja_assessment.bootstrap import main

main()
