// Package spell finds the known name a misspelled one was probably meant
// to be, so that a configuration file's unknown field can be questioned.
package spell

import "strings"

// MaxDistance is the largest distance at which Suggest offers a name.
const MaxDistance = 2

// Distance returns the Damerau-Levenshtein distance between a and b: the
// fewest insertions, deletions and substitutions of one character, and
// transpositions of two adjacent ones, that turn a into b. It is the
// unrestricted distance (Lowrance and Wagner), in which a transposed pair
// may be edited again: "ca" to "abc" is 2, not the 3 of the simpler
// optimal string alignment. Characters are runes; case counts.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	inf := len(ra) + len(rb)
	// d[i+1][j+1] is the distance between ra[:i] and rb[:j]; row and
	// column 0 hold inf, a border no transposition can start from.
	d := make([][]int, len(ra)+2)
	for i := range d {
		d[i] = make([]int, len(rb)+2)
		d[i][0] = inf
		if i > 0 {
			d[i][1] = i - 1
		}
	}
	for j := range d[0] {
		d[0][j] = inf
		if j > 0 {
			d[1][j] = j - 1
		}
	}
	lastRow := map[rune]int{} // the last row in which each rune of a was seen
	for i := 1; i <= len(ra); i++ {
		lastCol := 0 // the last column of this row where a matched b
		for j := 1; j <= len(rb); j++ {
			i1, j1 := lastRow[rb[j-1]], lastCol
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost, lastCol = 0, j
			}
			d[i+1][j+1] = min(
				d[i][j]+cost, // substitute (or keep)
				d[i+1][j]+1,  // insert
				d[i][j+1]+1,  // delete
				d[i1][j1]+(i-i1-1)+1+(j-j1-1), // transpose, with what lies between
			)
		}
		lastRow[ra[i-1]] = i
	}
	return d[len(ra)+1][len(rb)+1]
}

// Suggest returns the name in known closest to word, ignoring case, if it
// is within MaxDistance; of names equally close, the first in known.
func Suggest(word string, known []string) (string, bool) {
	lw := strings.ToLower(word)
	best, bestDist := "", MaxDistance+1
	for _, k := range known {
		if d := Distance(lw, strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best, bestDist <= MaxDistance
}
