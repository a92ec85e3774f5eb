#include <mx/service/Cli.h>

int main(int argc, char** argv) { return mx::service::runCli(argc, argv); }
