from ekinerja_simulator.app import main

main()
