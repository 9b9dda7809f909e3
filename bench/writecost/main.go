// Command writecost measures what one delivery costs this machine before
// hubd does anything: the CPU time of writing a small frame to a loopback
// TCP connection and of reading it at the other end, with nothing else
// running. Fan-out on one machine cannot go faster than this floor allows.
//
//	go run ./bench/writecost -conns 1000 -writes 200000 -size 300
//
// It uses loopback connections of its own and ends by itself.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"syscall"
	"time"
)

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	conns := flag.Int("conns", 1000, "loopback connections to write to, in turn")
	writes := flag.Int("writes", 200000, "frames to write")
	size := flag.Int("size", 300, "bytes per frame")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan int64)
	go func() { // accepts until the listener closes; one reader per connection
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { n, _ := io.Copy(io.Discard, c); drained <- n }() // ends when the writer closes
		}
	}()
	out := make([]net.Conn, *conns)
	for i := range out {
		if out[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			log.Fatal(err)
		}
	}

	frame := make([]byte, *size)
	startCPU, start := cpuTime(), time.Now()
	for i := 0; i < *writes; i++ {
		if _, err := out[i%len(out)].Write(frame); err != nil {
			log.Fatal(err)
		}
	}
	var read int64
	for _, c := range out {
		c.Close()
	}
	for range out {
		read += <-drained
	}
	cpu, wall := cpuTime()-startCPU, time.Since(start)
	if read != int64(*writes)*int64(*size) {
		log.Fatalf("read %d bytes, wrote %d", read, *writes**size)
	}
	perWrite := cpu / time.Duration(*writes)
	fmt.Printf("%d writes of %d B over %d loopback connections, %d CPUs: %v CPU per write and its read, %.0f writes/s\n",
		*writes, *size, *conns, runtime.NumCPU(), perWrite, float64(*writes)/wall.Seconds())
	fmt.Printf("so %d deliveries/s would need %.2f cores for the writes and reads alone\n",
		200000, 200000*perWrite.Seconds())
}
