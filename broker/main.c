/* main.c — placeholder entry point; the server comes with the broker core. */
#include <stdio.h>

int main(void)
{
	puts("ternd: not yet");
	return 0;
}
