/*
 * The smallest guest that behaves like an operating system towards ACPI:
 * a boot sector that enables the power button, waits for it, and answers
 * it by entering S5 (soft off).  `virsh shutdown` therefore ends in a
 * guest-initiated power-off, the event strata must tell apart from a
 * destroy or a crash.  No network, no kernel, 512 bytes.
 *
 * It runs the same under KVM and TCG: it needs nothing but port I/O, the
 * BIOS timer interrupt (which wakes `hlt`) and the BIOS tick count.  A
 * press that comes while SeaBIOS still runs is lost, as on real hardware
 * before the OS has enabled ACPI (SeaBIOS takes ~3 s under KVM, 0.1 s
 * under TCG): whoever shuts it down must press again, as a careful
 * operator does.
 *
 * The word before the boot signature (offset 508) is how many BIOS ticks
 * (18.2 a second) to wait between the press and the power-off, the time a
 * real OS takes to shut down; hosts.sh patches it (0: at once).
 *
 * PIIX4 power management (QEMU's `pc` machine) is PCI 00:01.3; its I/O
 * base is at config offset 0x40.  PM1a_STS is base+0, PM1a_EN base+2,
 * PM1a_CNT base+4.  QEMU's DSDT declares _S5 as SLP_TYP 0.
 */
	.code16
	.globl	_start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds		/* the tick count is at 0000:046c */
	movw	$0xcf8, %dx
	movl	$0x80000b40, %eax	/* bus 0, device 1, function 3, reg 0x40 */
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inl	%dx, %eax
	andw	$0xffc0, %ax
	movw	%ax, %bx		/* bx = PM I/O base */

	leaw	2(%bx), %dx		/* PM1a_EN: power button enable */
	movw	$0x0100, %ax
	outw	%ax, %dx

	/* Sleep between looks: the BIOS's timer (18.2 Hz) wakes us up, so an
	 * idle guest costs next to no host CPU even under TCG. */
	sti
wait:	hlt
	movw	%bx, %dx		/* PM1a_STS */
	inw	%dx, %ax
	testw	$0x0100, %ax		/* PWRBTN_STS */
	jz	wait

	/* "Shutting down": sleep the configured number of ticks. */
	movw	0x46c, %cx		/* ticks at the press */
linger:	movw	0x46c, %ax
	subw	%cx, %ax
	cmpw	delay_ticks, %ax
	jae	off
	hlt
	jmp	linger

off:	leaw	4(%bx), %dx		/* PM1a_CNT: SLP_TYP 0 (S5) | SLP_EN */
	movw	$0x2000, %ax
	outw	%ax, %dx
halt:	hlt
	jmp	halt

	.org	508
delay_ticks:
	.word	0
	.word	0xaa55
