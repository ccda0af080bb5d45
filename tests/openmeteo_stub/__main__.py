from tests.openmeteo_stub.server import main

main()
