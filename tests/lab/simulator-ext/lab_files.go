package simulator

import "os"

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func removeIfExists(name string) error {
	err := os.Remove(name)
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
