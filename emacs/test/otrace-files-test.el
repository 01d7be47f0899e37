;;; otrace-files-test.el --- ERT tests of otrace-files.el against the real demo -*- lexical-binding: t -*-

;;; Commentary:

;; The torna_trace demo's live objects as buffers, driven with keys:
;; `otrace-find-object' with completion, saving a function's buffer
;; patches the running server (the next HTTP request shows it), a source
;; that does not compile is marked and nothing is patched; the patches
;; list's diff, promote (undoable, never saved) and discard; a test from
;; the traced ZeroDivisionError, written with C-x C-w and passing in a
;; real pytest run.  Loaded after otrace-test.el (its demo helpers).

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'otrace)
(require 'otrace-files)
(require 'otrace-test)

(defconst otrace-files-test--respond "/osh/globals/GetHandler/respond.py"
  "The demo's GetHandler.respond as an /osh file.")

(defun otrace-files-test--page (app query)
  "The body of GET /?QUERY on APP, once it arrived."
  (let ((buf (otrace-test--http-get app (concat "/?" query))))
    (otrace-test--wait (lambda () (not (process-live-p (get-buffer-process buf)))) "the HTTP answer")
    (prog1 (with-current-buffer buf (buffer-string))
      (kill-buffer buf))))

(defun otrace-files-test--unsafe ()
  "Turn the demo's safe mode off (patching needs it)."
  (otrace--request 'otrace/command (list :line "set safe_mode False")))

(defun otrace-files-test--cleanup ()
  "Kill the buffers of these tests."
  (dolist (buf (buffer-list))
    (when (string-match-p "\\`\\*otrace \\(/osh\\|diff\\|patches\\|test_\\)" (buffer-name buf))
      (with-current-buffer buf (set-buffer-modified-p nil))
      (kill-buffer buf))))

(defun otrace-files-test--edit-respond (from to)
  "Open GetHandler.respond's live source, safe mode off, and replace FROM by TO."
  (otrace-files-test--unsafe)
  (otrace-find-object otrace-files-test--respond)
  (goto-char (point-min))
  (search-forward from)
  (replace-match to t t))

(defmacro otrace-files-test--with-demo (app &rest body)
  "Run BODY connected to the torna_trace demo bound to APP."
  (declare (indent 1))
  `(otrace-test--with-app (,app "demos/torna_trace.py")
     (unwind-protect
         (progn (otrace-test--connect ,app) ,@body)
       (otrace-files-test--cleanup))))

(ert-deftest otrace-files-test-find-object-completes-and-save-patches ()
  "M-x otrace-find-object with TAB opens respond.py; C-x C-s patches the running server."
  (otrace-files-test--with-demo app
    (otrace-files-test--unsafe)
    (execute-kbd-macro (kbd "M-x otrace-find-object RET C-a C-k /osh/globals/GetHa TAB respo TAB RET"))
    (let ((buf (get-buffer (format "*otrace %s*" otrace-files-test--respond))))
      (should buf)
      (should (eq (current-buffer) buf))
      (should (derived-mode-p 'python-mode))
      (should otrace-object-mode)
      (should (equal otrace--object-name "GetHandler.respond"))
      (should (string-prefix-p "def respond(self, number):" (buffer-string)))
      (goto-char (point-min))
      (search-forward "The reciprocal of")
      (replace-match "Emacs: the reciprocal of")
      (execute-kbd-macro (kbd "C-x C-s"))
      (should-not (buffer-modified-p))
      (should (string-match-p "Emacs: the reciprocal of 4.0 is 0.25" (otrace-files-test--page app "number=4")))
      (should (equal (mapcar (lambda (p) (plist-get p :name))
                             (plist-get (otrace--request 'otrace/patches) :patches))
                     '("GetHandler.respond"))))))

(ert-deftest otrace-files-test-a-syntax-error-is-marked-and-nothing-patched ()
  "Saving a source that does not compile marks its line; the process keeps its code."
  (otrace-files-test--with-demo app
    (otrace-files-test--edit-respond "try:" "try")
    (should-error (execute-kbd-macro (kbd "C-x C-s")) :type 'user-error)
    (should (buffer-modified-p))
    (should (= (line-number-at-pos) 3))
    (should (cl-some (lambda (ov) (overlay-get ov 'otrace-diagnostic)) (overlays-in (point-min) (point-max))))
    (should (equal (plist-get (otrace--request 'otrace/patches) :patches) []))
    (should (string-match-p "The reciprocal of 4.0 is 0.25" (otrace-files-test--page app "number=4")))
    (otrace-find-object "/osh/globals/Request_stats/count")
    (should buffer-read-only)
    (should-error (otrace-object-save) :type 'user-error)))

(ert-deftest otrace-files-test-patches-list-diff-promote-discard ()
  "In the patches list: = shows the diff, P writes it into the file's buffer (undoable), k discards."
  (otrace-files-test--with-demo app
    (otrace-files-test--edit-respond "1.0 / value" "1 / value")
    (otrace-object-save)
    (otrace-test--wait (lambda () otrace--patches) "otrace/patchesChanged")
    (with-current-buffer (otrace-patches)
      (goto-char (point-min))
      (otrace-test--wait (lambda () (tabulated-list-get-id)) "the patch listed")
      (should (equal (tabulated-list-get-id) "GetHandler.respond"))
      (execute-kbd-macro (kbd "="))
      (with-current-buffer "*otrace diff GetHandler.respond*"
        (should (derived-mode-p 'diff-mode))
        (should (otrace-test--buffer-has (current-buffer) "^-        return f\"The reciprocal of {value} is {1.0 / value}\""))
        (should (otrace-test--buffer-has (current-buffer) "^\\+        return f\"The reciprocal of {value} is {1 / value}\"")))
      (execute-kbd-macro (kbd "P")))
    (let ((source (otrace-test--demo-buffer)))
      (with-current-buffer source
        (should (buffer-modified-p))             ; written into the buffer, never saved
        (should (otrace-test--buffer-has source "is {1 / value}\""))
        (undo)
        (should (otrace-test--buffer-has source "is {1.0 / value}\""))
        (should-not (otrace-test--buffer-has source "is {1 / value}\""))))
    (pop-to-buffer "*otrace patches*")
    (goto-char (point-min))
    (execute-kbd-macro (kbd "k"))
    (should (equal (plist-get (otrace--request 'otrace/patches) :patches) []))
    (with-current-buffer (format "*otrace %s*" otrace-files-test--respond)
      (should (otrace-test--buffer-has (current-buffer) "{1.0 / value}")))   ; shows the loaded code again
    (should (string-match-p "The reciprocal of 4.0 is 0.25" (otrace-files-test--page app "number=4")))))

(ert-deftest otrace-files-test-testgen-writes-a-test-that-passes-in-pytest ()
  "M-x otrace-testgen on the traced ZeroDivisionError; C-x C-w writes it; pytest passes it."
  (otrace-files-test--with-demo app
    (otrace--request 'otrace/trace (list :name "GetHandler.respond"))
    (otrace-files-test--page app "number=0")
    (otrace-test--wait (lambda () (plist-get (otrace--request 'otrace/traces (list :ctype "exceptions")) :traces))
                       "the exception recorded")
    (execute-kbd-macro (kbd "M-x otrace-testgen RET RET"))
    (should (string-match-p "test_gethandler_respond_raises_zerodivisionerror" (buffer-name)))
    (should (otrace-test--buffer-has (current-buffer) "pytest.raises(ZeroDivisionError"))
    (should (otrace-test--buffer-has (current-buffer) "Pins the behaviour"))
    (let* ((dir (make-temp-file "otrace-testgen" t))
           (file (expand-file-name "test_respond.py" dir)))
      (unwind-protect
          (progn
            (execute-kbd-macro (kbd (format "C-x C-w C-a C-k %s RET" file)))
            (should (file-exists-p file))
            (set-buffer-modified-p nil)
            (let ((process-environment (cons (concat "PYTHONPATH=" otrace-test--root) process-environment))
                  (default-directory otrace-test--root))
              (with-temp-buffer
                (should (= 0 (call-process (otrace-test--python) nil t nil "-m" "pytest" "-p" "no:cacheprovider"
                                           "-q" file)))
                (should (otrace-test--buffer-has (current-buffer) "1 passed")))))
        (kill-buffer (get-file-buffer file))
        (delete-directory dir t)))))

(provide 'otrace-files-test)

;;; otrace-files-test.el ends here
