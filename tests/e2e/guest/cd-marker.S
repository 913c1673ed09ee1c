/*
 * The boot image of the media scenario's CD (El Torito, no emulation):
 * proof that the guest booted from the disc.  SeaBIOS loads it at
 * 0000:7c00 (4 sectors of 512, -boot-load-size 4) with the CD's drive in
 * DL; it writes 4 KiB of 0x5a at byte 4096 (LBA 8, 8 sectors) of the first
 * hard disk (drive 0x80, the VM's system disk), where lib.sh's has_marker
 * looks, and halts.  The base image (acpi-guest.S) is one boot sector:
 * LBA 8 holds nothing of it.  INT 13h extensions (AH=43h): the sector is
 * an LBA, no geometry needed.
 */
	.code16
	.globl	_start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp		/* the stack below us */
	sti

	cld				/* 4 KiB of 0x5a at 0000:9000, past us */
	movw	$0x9000, %di
	movw	$0x5a5a, %ax
	movw	$2048, %cx
	rep stosw

	movw	$dap, %si		/* extended write, no verify */
	movw	$0x4300, %ax
	movb	$0x80, %dl		/* the first hard disk */
	int	$0x13

halt:	cli
	hlt
	jmp	halt

	.balign	4
dap:	.byte	16, 0			/* disk address packet: its size */
	.word	8			/* sectors */
	.word	0x9000, 0		/* buffer, offset:segment */
	.quad	8			/* first sector (LBA) */
