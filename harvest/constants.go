package harvest

import "time"

// Specification constants: SP 800-90B section 4.4 and the seed format.
const (
	// aptWindow is the Adaptive Proportion Test window for non-binary
	// samples (every source here yields byte samples).
	aptWindow = 512
	// aptWindowBinary is the window for binary (1-bit) samples.
	aptWindowBinary = 1024
	// defaultAlphaLog2 gives the false-positive rate alpha = 2^-30 per test
	// (SP 800-90B asks for 2^-20 <= alpha <= 2^-40).
	defaultAlphaLog2 = 30
	// startupSamples is how many consecutive samples of a source the
	// start-up test (section 4.3) runs the health tests over before any of
	// its output is used.
	startupSamples = 1024

	// seedSize is the size of the seed file and of the generator key.
	seedSize = 32
	// blockSize is the ChaCha20 block size (RFC 8439).
	blockSize = 64

	// seedContext is the context string for BLAKE3's derive-key mode
	// ("[application] [date] [purpose]"). Changing it changes every key.
	seedContext = "entropyshare 2026-11 harvest seed v1"
)

// DefaultMinBits is the credited entropy a run needs when Config.MinBits
// is 0: a 256-bit generator key's worth.
const DefaultMinBits = 256

// Implementation constants: how much each source reads, defaults and
// limits.
const (
	kernelBytes          = 32
	hwrngBytes           = 64
	hwrngPath            = "/dev/hwrng"
	fileBytes            = 256
	commandBytes         = 4096
	pluginBytes          = 64
	jitterSamples        = 2048
	adcSamples           = 256
	defaultSourceTimeout = 5 * time.Second
	defaultPluginTimeout = 5 * time.Second
	// defaultPluginMemoryPages is 32 MiB of 64 KiB WebAssembly pages: a Go
	// wasip1 module needs about 38 pages to start.
	defaultPluginMemoryPages = 512
	// defaultPluginMaxSize caps a plugin's module file. Compiling costs
	// memory and time in proportion: a 24 MB module of one function took
	// 5.6 s and 1.4 GB to compile here, 26 s and 3.2 GB in the
	// interpreter. A Go wasip1 module is about 2.5 MB.
	defaultPluginMaxSize = 8 << 20

	// maxJitterSamples and maxJitterRounds bound the jitter source's CPU
	// time whatever the configuration says: ARM boards have been pinned at
	// 100% CPU by jitter daemons that looped until satisfied.
	maxJitterSamples = 1 << 16
	jitterRounds     = 64 // inner memory-walk steps per timed sample

	// commandWaitDelay is how long a killed command's pipes stay open.
	commandWaitDelay = 500 * time.Millisecond

	// maxStartupReads bounds the extra reads the start-up test makes of
	// a source whose readings hold fewer than startupSamples samples.
	maxStartupReads = 64

	// maxChunk is how much generator output one key produces before
	// fast key erasure replaces it, within a single large Read.
	maxChunk = 1 << 20
)

// Assessed min-entropy, in bits per byte sample, of the built-in sources.
// An operator may lower these (Config.Credit), never raise them.
const (
	// kernelBitsPerByte: getrandom output is the kernel CRNG's, full
	// entropy once the kernel says it is initialised (GRND_NONBLOCK).
	kernelBitsPerByte = 8
	// hwrngBitsPerByte: hardware generators are of unknown quality; half
	// credit, like rngd's conservative settings.
	hwrngBitsPerByte = 4
	// adcBitsPerSample: the low 8 bits of a 12-bit AM335x ADC reading of a
	// floating or noisy input. Half a bit is a deliberately low guess.
	adcBitsPerSample = 0.5
	// jitterMaxBitsPerSample caps the jitter estimate: one bit per timing
	// delta, jitterentropy's own assumption at oversampling rate 1.
	jitterMaxBitsPerSample = 1
)
