/*
 * A boot sector that talks on its first serial port (COM1, 0x3f8), for
 * `strata console --serial`: it answers every byte it receives with a
 * line "strata-echo:" + the byte, so a client sees both directions work.
 * Between looks it sleeps (`hlt`, woken by the BIOS timer at 18.2 Hz), so
 * an idle guest costs next to no host CPU, under KVM or TCG.  Bytes that
 * come before it set the port up (while SeaBIOS runs) may be lost.  No disk I/O,
 * no network, 512 bytes.
 */
	.code16
	.globl	_start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x7c00, %sp

	/* 115200 8N1, FIFOs on, no interrupts (we poll). */
	movw	$0x3f9, %dx		/* IER */
	xorb	%al, %al
	outb	%al, %dx
	movw	$0x3fb, %dx		/* LCR: divisor latch */
	movb	$0x80, %al
	outb	%al, %dx
	movw	$0x3f8, %dx		/* divisor 1 */
	movb	$0x01, %al
	outb	%al, %dx
	movw	$0x3f9, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$0x3fb, %dx		/* LCR: 8N1 */
	movb	$0x03, %al
	outb	%al, %dx
	movw	$0x3fa, %dx		/* FCR: FIFOs on, cleared */
	movb	$0xc7, %al
	outb	%al, %dx
	movw	$0x3fc, %dx		/* MCR: DTR, RTS, OUT2 */
	movb	$0x0b, %al
	outb	%al, %dx
	/* Read the receiver once, as an OS's driver does when it starts
	 * the port: QEMU takes more input from its backend only after a
	 * read (clearing the FIFO above does not tell it), so bytes that
	 * came before this point would otherwise stop all input. */
	movw	$0x3f8, %dx
	inb	%dx, %al

	movw	$banner, %si
	call	puts
	sti

wait:	hlt
look:	movw	$0x3fd, %dx		/* LSR: data ready? */
	inb	%dx, %al
	testb	$0x01, %al
	jz	wait
	movw	$0x3f8, %dx
	inb	%dx, %al
	movb	%al, got
	movw	$echo, %si
	call	puts
	jmp	look

/* Send the NUL-terminated string at %si, each byte when the transmitter
 * holds no other (LSR bit 5). */
puts:	lodsb
	testb	%al, %al
	jz	1f
	movb	%al, %ah
	movw	$0x3fd, %dx
2:	inb	%dx, %al
	testb	$0x20, %al
	jz	2b
	movw	$0x3f8, %dx
	movb	%ah, %al
	outb	%al, %dx
	jmp	puts
1:	ret

banner:	.asciz	"strata serial guest ready\r\n"
echo:	.ascii	"strata-echo:"
got:	.byte	0
	.asciz	"\r\n"

	.org	510
	.word	0xaa55
