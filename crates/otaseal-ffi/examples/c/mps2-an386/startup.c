/* Minimal Cortex-M startup for the C example on QEMU mps2-an386: vector
 * table, .data/.bss set-up, FPU on (hard-float ABI), newlib semihosting, then
 * main; its return value becomes QEMU's exit status. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[], __stack_top[];
extern int main(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);

/* Any fault: leave QEMU with a failure status instead of hanging. */
static void Fault_Handler(void) { _Exit(3); }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler,               Fault_Handler, Fault_Handler,
};

void Reset_Handler(void) {
  for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) {
    *d++ = *s++;
  }
  for (uint32_t *d = __bss_start; d < __bss_end;) {
    *d++ = 0;
  }
  /* CPACR: full access to CP10/CP11 (the FPU). */
  *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
  __asm volatile("dsb\n\tisb");
  initialise_monitor_handles();
  exit(main());
}
