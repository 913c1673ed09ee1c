/*
 * The reset scenario's guest: a boot sector that counts its boots on its
 * own disk, writes a marker when told, and reboots itself when told, so a
 * test can see whether the disk it boots from after a reboot is the one it
 * wrote on before.  No network, no kernel, 512 bytes.
 *
 *   at boot   reads byte 4096 (LBA 8) of its disk, the boot count (0 on a
 *             disk fresh from the base image), and writes the count + 1 as
 *             4 KiB of that byte at 4096 (LBA 8-15): 4 KiB of 0x01 after
 *             the first boot, of 0x02 after the second
 *   key W     writes 4 KiB of 0x5a at byte 8192 (LBA 16-23): "written
 *             before the reboot"
 *   key R     reboots: the keyboard controller's pulse on the CPU's reset
 *             line (0xfe to port 0x64), a triple fault if that did not
 *             work; QEMU says "guest-reset" either way
 *   power     answers the ACPI power button with S5, as acpi-guest.S does
 *
 * `virsh send-key DOMAIN KEY_W` and `KEY_R` press the keys (the PS/2
 * keyboard; the BIOS keeps what comes while we sleep).  A press before the
 * count is on the disk may come before the BIOS listens to the keyboard,
 * and be lost: whoever presses waits for the count first.  It runs
 * the same under KVM and TCG: it sleeps (`hlt`, woken by the BIOS timer and
 * the keyboard) between looks.  Disk I/O is INT 13h's extensions (an LBA,
 * no geometry) on the drive the BIOS booted it from.
 *
 * PIIX4 power management (QEMU's `pc` machine) is PCI 00:01.3, its I/O base
 * at config offset 0x40: PM1a_STS is base+0, PM1a_EN base+2, PM1a_CNT
 * base+4; QEMU's DSDT declares _S5 as SLP_TYP 0.
 */
	.code16
	.globl	_start
	.set	buf, 0x9000		/* 4 KiB of disk buffer, past us */
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp		/* the stack below us */
	movb	%dl, drive		/* the disk the BIOS booted us from */

	movw	$0xcf8, %dx		/* bus 0, device 1, function 3, reg 0x40 */
	movl	$0x80000b40, %eax
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inl	%dx, %eax
	andw	$0xffc0, %ax
	movw	%ax, pmbase
	addw	$2, %ax			/* PM1a_EN: power button enable */
	movw	%ax, %dx
	movw	$0x0100, %ax
	outw	%ax, %dx
	sti

	/* The boot count: one sector read, 4 KiB of count + 1 written. */
	movb	$0x42, %ah
	call	disk
	movb	buf, %al
	incb	%al
	call	fill
	movw	$8, count
	movb	$0x43, %ah
	call	disk

idle:	hlt
	movw	pmbase, %dx		/* PM1a_STS */
	inw	%dx, %ax
	testw	$0x0100, %ax		/* PWRBTN_STS */
	jnz	off
	movb	$0x01, %ah		/* a key waiting? */
	int	$0x16
	jz	idle
	xorb	%ah, %ah		/* take it: AH = its scan code */
	int	$0x16
	cmpb	$0x11, %ah		/* W */
	je	mark
	cmpb	$0x13, %ah		/* R */
	jne	idle

	cli
	movb	$0xfe, %al		/* pulse the reset line */
	outb	%al, $0x64
	lidt	noidt			/* still here: a triple fault */
	int3

mark:	movw	$16, lba
	movb	$0x5a, %al
	call	fill
	movb	$0x43, %ah
	call	disk
	jmp	idle

off:	movw	pmbase, %dx		/* PM1a_CNT: SLP_TYP 0 (S5) | SLP_EN */
	addw	$4, %dx
	movw	$0x2000, %ax
	outw	%ax, %dx
halt:	hlt
	jmp	halt

/* fill: 4 KiB of AL at buf. */
fill:	cld
	movw	$buf, %di
	movb	%al, %ah
	movw	$2048, %cx
	rep stosw
	ret

/* disk: INT 13h function AH (0x42 read, 0x43 write without verify) of the
 * packet below. */
disk:	movb	$0, %al
	movw	$dap, %si
	movb	drive, %dl
	int	$0x13
	ret

	.balign	4
dap:	.byte	16, 0			/* disk address packet: its size */
count:	.word	1			/* sectors */
	.word	buf, 0			/* buffer, offset:segment */
lba:	.quad	8			/* first sector */
noidt:	.word	0			/* an empty interrupt table */
	.long	0
pmbase:	.word	0
drive:	.byte	0

	.org	510
	.word	0xaa55
